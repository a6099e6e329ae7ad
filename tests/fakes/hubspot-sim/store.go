package main

import (
	"strconv"
	"strings"
	"time"
)

// Record is one CRM object record. Props holds only set (non-empty) values.
type Record struct {
	ID       string
	Props    map[string]string
	Created  time.Time
	Updated  time.Time
	Archived bool
}

// Table holds one object type's live records with unique-value indexes.
type Table struct {
	obj    *ObjectType
	byID   map[string]*Record
	order  []*Record // creation order (ids ascend); archived ones are skipped on read
	unique map[string]map[string]*Record
}

// Store is every table; the Server's mutex guards it.
type Store struct {
	schema   *Schema
	tables   map[string]*Table // by type id
	nextID   int64
	writes   int
	archived int
}

func newStore(schema *Schema) *Store {
	s := &Store{schema: schema}
	s.reset()
	return s
}

func (s *Store) reset() {
	s.tables = map[string]*Table{}
	for _, o := range s.schema.list {
		t := &Table{obj: o, byID: map[string]*Record{}, unique: map[string]map[string]*Record{}}
		for _, n := range o.uniqueProps() {
			t.unique[n] = map[string]*Record{}
		}
		s.tables[o.TypeID] = t
	}
	s.nextID = 1000
	s.writes, s.archived = 0, 0
}

func (s *Store) table(o *ObjectType) *Table { return s.tables[o.TypeID] }

func uniqueKey(prop, v string) string {
	if prop == "email" {
		return strings.ToLower(v)
	}
	return v
}

// find returns the live record whose idProperty (or id when prop is "") is v.
func (t *Table) find(prop, v string) *Record {
	if prop == "" || prop == "hs_object_id" {
		r := t.byID[v]
		if r == nil || r.Archived {
			return nil
		}
		return r
	}
	if idx := t.unique[prop]; idx != nil {
		return idx[uniqueKey(prop, v)]
	}
	return nil
}

// conflict returns the record other than self holding one of props' unique values.
func (t *Table) conflict(self *Record, props map[string]string) (string, *Record) {
	for n, v := range props {
		idx := t.unique[n]
		if idx == nil || v == "" {
			continue
		}
		if r := idx[uniqueKey(n, v)]; r != nil && r != self {
			return n, r
		}
	}
	return "", nil
}

func (s *Store) create(t *Table, props map[string]string, now time.Time) *Record {
	s.nextID++
	r := &Record{ID: strconv.FormatInt(s.nextID, 10), Props: map[string]string{}, Created: now, Updated: now}
	t.byID[r.ID] = r
	t.order = append(t.order, r)
	s.apply(t, r, props, now)
	return r
}

// apply writes props into r ("" clears) and keeps the indexes in step.
func (s *Store) apply(t *Table, r *Record, props map[string]string, now time.Time) {
	for n, v := range props {
		if idx := t.unique[n]; idx != nil {
			if old, ok := r.Props[n]; ok {
				delete(idx, uniqueKey(n, old))
			}
			if v != "" {
				idx[uniqueKey(n, v)] = r
			}
		}
		if v == "" {
			delete(r.Props, n)
		} else {
			r.Props[n] = v
		}
	}
	r.Updated = now
	s.writes++
}

func (s *Store) archive(t *Table, r *Record) {
	for n, idx := range t.unique {
		if v, ok := r.Props[n]; ok {
			delete(idx, uniqueKey(n, v))
		}
	}
	r.Archived = true
	delete(t.byID, r.ID)
	s.archived++
}

// live returns the table's live records in id order.
func (t *Table) live() []*Record {
	out := make([]*Record, 0, len(t.byID))
	keep := t.order[:0]
	for _, r := range t.order {
		if !r.Archived {
			out = append(out, r)
			keep = append(keep, r)
		}
	}
	t.order = keep
	return out
}

const tsLayout = "2006-01-02T15:04:05.000Z"

// value is a property's current value as HubSpot answers it, and whether set.
func (t *Table) value(r *Record, name string) (string, bool) {
	switch name {
	case "hs_object_id":
		return r.ID, true
	case "createdate":
		return r.Created.UTC().Format(tsLayout), true
	case "hs_lastmodifieddate", "lastmodifieddate":
		return r.Updated.UTC().Format(tsLayout), true
	}
	v, ok := r.Props[name]
	return v, ok
}

// recordJSON renders r with the given properties (nil: the defaults of a write
// answer: every set property plus the system ones). nulls keeps requested
// properties without a value as JSON null (search does that).
func (t *Table) recordJSON(r *Record, props []string, nulls bool) map[string]any {
	p := map[string]any{}
	if props == nil {
		for n, v := range r.Props {
			p[n] = v
		}
		props = []string{"hs_object_id", "createdate", "hs_lastmodifieddate"}
		if t.obj.TypeID == "0-1" {
			props = append(props, "lastmodifieddate")
		}
	}
	for _, n := range props {
		if v, ok := t.value(r, n); ok {
			p[n] = v
		} else if nulls {
			p[n] = nil
		}
	}
	out := map[string]any{"id": r.ID, "properties": p, "createdAt": r.Created.UTC().Format(tsLayout),
		"updatedAt": r.Updated.UTC().Format(tsLayout), "archived": r.Archived}
	return out
}

// defaultProps are returned by reads that name no properties.
func (o *ObjectType) defaultProps() []string {
	switch o.TypeID {
	case "0-1":
		return []string{"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}
	case "0-2":
		return []string{"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"}
	case "0-3":
		return []string{"amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id", "pipeline"}
	case "0-5":
		return []string{"content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "subject"}
	}
	return []string{"createdate", "hs_lastmodifieddate", "hs_object_id"}
}
