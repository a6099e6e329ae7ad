package main

import (
	"strconv"
	"strings"
	"time"
)

// Record is one stored sObject row. F holds canonical field names mapped to string,
// bool, float64 or nil values; dates and datetimes are stored in their API string form.
type Record struct {
	Id      string
	F       map[string]any
	seq     uint64
	deleted bool
}

// Table holds the records of one sObject, with value indexes on external-id and
// unique fields.
type Table struct {
	obj        *Object
	byId       map[string]*Record
	list       []*Record // creation order, tombstones skipped
	idx        map[string]map[string][]*Record
	deletedIds map[string]bool
	dead       int
}

// Store is every table plus the Id counter.
type Store struct {
	schema  *Schema
	tables  map[string]*Table
	counter uint64
	seq     uint64
	userId  string
	orgId   string
	writes  uint64 // records written since start (stats)
}

func newStore(schema *Schema) *Store {
	s := &Store{schema: schema, tables: map[string]*Table{}}
	s.userId = to18("0055e0000001Sim")
	s.orgId = to18("00D5e0000001Sim")
	s.reset()
	return s
}

func (s *Store) reset() {
	s.tables = map[string]*Table{}
	for key, o := range s.schema.Objects {
		s.tables[key] = newTable(o)
	}
	if u := s.schema.object("User"); u != nil {
		t := s.table(u)
		r := &Record{Id: s.userId, F: map[string]any{
			"Id": s.userId, "Username": "integration@sim.example", "FirstName": "Integration", "LastName": "User",
			"Name": "Integration User", "Email": "integration@sim.example", "Alias": "integ", "IsActive": true,
			"CreatedDate": "2024-01-01T00:00:00.000+0000", "LastModifiedDate": "2024-01-01T00:00:00.000+0000",
			"SystemModstamp": "2024-01-01T00:00:00.000+0000"}}
		t.byId[r.Id] = r
		t.list = append(t.list, r)
		t.indexAdd(r)
	}
}

func newTable(o *Object) *Table {
	t := &Table{obj: o, byId: map[string]*Record{}, idx: map[string]map[string][]*Record{}, deletedIds: map[string]bool{}}
	for _, f := range o.Fields {
		if f.indexed() {
			t.idx[f.Name] = map[string][]*Record{}
		}
	}
	return t
}

func (s *Store) table(o *Object) *Table { return s.tables[strings.ToLower(o.Name)] }

func (s *Store) newId(o *Object) string {
	s.counter++
	return mintId(o.KeyPrefix, s.counter)
}

// indexKey normalises a value for index lookups and equality on ext-id fields.
func indexKey(f *Field, v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		if x == "" {
			return "", false
		}
		if f.CaseSensitive {
			return x, true
		}
		return strings.ToLower(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func (t *Table) indexAdd(r *Record) {
	for name, m := range t.idx {
		f := t.obj.field(name)
		if k, ok := indexKey(f, r.F[name]); ok {
			m[k] = append(m[k], r)
		}
	}
}

func (t *Table) indexRemove(r *Record) {
	for name, m := range t.idx {
		f := t.obj.field(name)
		k, ok := indexKey(f, r.F[name])
		if !ok {
			continue
		}
		list := m[k]
		for i, x := range list {
			if x == r {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(m, k)
		} else {
			m[k] = list
		}
	}
}

// lookup returns the live records whose field f equals v (indexed or scanned).
func (t *Table) lookup(f *Field, v any) []*Record {
	if f.Name == "Id" {
		s, _ := v.(string)
		id, ok := normalizeId(s)
		if !ok {
			return nil
		}
		if r := t.byId[id]; r != nil {
			return []*Record{r}
		}
		return nil
	}
	k, ok := indexKey(f, v)
	if !ok {
		return nil
	}
	if m, has := t.idx[f.Name]; has {
		return append([]*Record(nil), m[k]...)
	}
	var out []*Record
	for _, r := range t.list {
		if r.deleted {
			continue
		}
		if rk, ok := indexKey(f, r.F[f.Name]); ok && rk == k {
			out = append(out, r)
		}
	}
	return out
}

func (t *Table) live() int { return len(t.byId) }

func (t *Table) compact() {
	if t.dead < 1024 || t.dead < len(t.list)/2 {
		return
	}
	out := t.list[:0]
	for _, r := range t.list {
		if !r.deleted {
			out = append(out, r)
		}
	}
	for i := len(out); i < len(t.list); i++ {
		t.list[i] = nil
	}
	t.list = out
	t.dead = 0
}

// Tx records undo entries so that allOrNone requests can roll back.
type Tx struct {
	s   *Store
	log []undoEntry
}

type undoEntry struct {
	t       *Table
	r       *Record
	prevF   map[string]any // nil: the record was created
	deleted bool           // the record was deleted
}

func (s *Store) begin() *Tx { return &Tx{s: s} }

func (tx *Tx) insert(t *Table, r *Record) {
	tx.s.seq++
	r.seq = tx.s.seq
	t.byId[r.Id] = r
	t.list = append(t.list, r)
	t.indexAdd(r)
	tx.s.writes++
	tx.log = append(tx.log, undoEntry{t: t, r: r})
}

func (tx *Tx) update(t *Table, r *Record, newF map[string]any) {
	t.indexRemove(r)
	prev := r.F
	r.F = newF
	t.indexAdd(r)
	tx.s.writes++
	tx.log = append(tx.log, undoEntry{t: t, r: r, prevF: prev})
}

func (tx *Tx) remove(t *Table, r *Record) {
	t.indexRemove(r)
	delete(t.byId, r.Id)
	r.deleted = true
	t.dead++
	t.deletedIds[r.Id] = true
	tx.s.writes++
	tx.log = append(tx.log, undoEntry{t: t, r: r, deleted: true})
}

func (tx *Tx) rollback() {
	for i := len(tx.log) - 1; i >= 0; i-- {
		u := tx.log[i]
		switch {
		case u.deleted:
			u.r.deleted = false
			u.t.dead--
			delete(u.t.deletedIds, u.r.Id)
			u.t.byId[u.r.Id] = u.r
			u.t.indexAdd(u.r)
		case u.prevF == nil:
			u.t.indexRemove(u.r)
			delete(u.t.byId, u.r.Id)
			u.r.deleted = true
			u.t.dead++
		default:
			u.t.indexRemove(u.r)
			u.r.F = u.prevF
			u.t.indexAdd(u.r)
		}
	}
	tx.log = nil
}

func (tx *Tx) commit() {
	for _, u := range tx.log {
		u.t.compact()
	}
	tx.log = nil
}

func sfTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000+0000") }
