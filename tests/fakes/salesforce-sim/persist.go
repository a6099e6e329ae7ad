package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"
)

// stateFile is what --state DIR keeps in DIR/state.json.
type stateFile struct {
	Counter  uint64                      `json:"counter"`
	Seq      uint64                      `json:"seq"`
	APIUsed  int                         `json:"apiUsed"`
	Objects  map[string][]map[string]any `json:"objects,omitempty"`
	Deleted  map[string][]string         `json:"deletedIds"`
	Sessions map[string]*session         `json:"sessions"`
}

func (s *Server) statePath() string { return filepath.Join(s.opts.StateDir, "state.json") }

// loadState restores records, Id counter and sessions from --state DIR.
func (s *Server) loadState() error {
	data, err := os.ReadFile(s.statePath())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: %v", s.statePath(), err)
	}
	s.store.counter = st.Counter
	s.store.seq = st.Seq
	s.apiUsed = st.APIUsed
	for name, recs := range st.Objects {
		o := s.store.schema.object(name)
		if o == nil {
			log.Printf("state: object %s is not in the schema; its %d records are dropped", name, len(recs))
			continue
		}
		t := s.store.table(o)
		for _, f := range recs {
			id, _ := f["Id"].(string)
			r := &Record{Id: id, F: map[string]any{}}
			for k, v := range f {
				if fl := o.field(k); fl != nil {
					r.F[fl.Name] = v
				}
			}
			if sq, ok := f["__seq"].(float64); ok {
				r.seq = uint64(sq)
			}
			if old := t.byId[id]; old != nil {
				// The seeded integration user: take the stored version.
				t.indexRemove(old)
				old.F, old.seq = r.F, r.seq
				t.indexAdd(old)
				continue
			}
			t.byId[id] = r
			t.list = append(t.list, r)
			t.indexAdd(r)
		}
		sortRecords(t.list, func(a, b *Record) int {
			switch {
			case a.seq < b.seq:
				return -1
			case a.seq > b.seq:
				return 1
			}
			return 0
		})
	}
	for name, ids := range st.Deleted {
		if o := s.store.schema.object(name); o != nil {
			for _, id := range ids {
				s.store.table(o).deletedIds[id] = true
			}
		}
	}
	for k, v := range st.Sessions {
		s.sessions[k] = v
	}
	return nil
}

// snapRec is a reference to one record for a snapshot. Record field maps are never
// modified in place (an update installs a new map), so they can be encoded after
// the lock is released.
type snapRec struct {
	seq uint64
	f   map[string]any
}

type snapshot struct {
	st      stateFile
	objects map[string][]snapRec
}

// takeSnapshot collects what saveState writes; must hold s.mu. Cheap: no copying
// of field maps.
func (s *Server) takeSnapshot() *snapshot {
	sn := &snapshot{st: stateFile{Counter: s.store.counter, Seq: s.store.seq, Deleted: map[string][]string{}}, objects: map[string][]snapRec{}}
	s.statsMu.Lock()
	sn.st.APIUsed = s.apiUsed
	s.statsMu.Unlock()
	for _, t := range s.store.tables {
		recs := make([]snapRec, 0, len(t.byId))
		for _, r := range t.list {
			if !r.deleted {
				recs = append(recs, snapRec{seq: r.seq, f: r.F})
			}
		}
		if len(recs) > 0 {
			sn.objects[t.obj.Name] = recs
		}
		for id := range t.deletedIds {
			sn.st.Deleted[t.obj.Name] = append(sn.st.Deleted[t.obj.Name], id)
		}
	}
	s.tokMu.Lock()
	sn.st.Sessions = map[string]*session{}
	for k, v := range s.sessions {
		if k != s.opts.StaticToken {
			cp := *v
			sn.st.Sessions[k] = &cp
		}
	}
	s.tokMu.Unlock()
	return sn
}

// encode writes the snapshot as a stateFile JSON document.
func (sn *snapshot) encode() ([]byte, error) {
	head, err := json.Marshal(&sn.st)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(head[:len(head)-1]) // without the closing brace; "objects" is null there
	buf.WriteString(`,"objects":{`)
	first := true
	for name, recs := range sn.objects {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		nb, _ := json.Marshal(name)
		buf.Write(nb)
		buf.WriteString(":[")
		for i, r := range recs {
			if i > 0 {
				buf.WriteByte(',')
			}
			fb, err := json.Marshal(r.f)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&buf, `{"__seq":%d`, r.seq)
			if len(fb) > 2 {
				buf.WriteByte(',')
				buf.Write(fb[1:])
			} else {
				buf.WriteByte('}')
			}
		}
		buf.WriteByte(']')
	}
	buf.WriteString("}}")
	return buf.Bytes(), nil
}

// saveState writes the state atomically (temp file, fsync, rename) when it changed.
func (s *Server) saveState() {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return
	}
	s.dirty = false
	sn := s.takeSnapshot()
	s.mu.Unlock()
	data, err := sn.encode()
	if err != nil {
		log.Printf("state: %v", err)
		return
	}
	tmp, err := os.CreateTemp(s.opts.StateDir, ".state-*.json")
	if err != nil {
		log.Printf("state: %v", err)
		return
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.statePath())
	}
	if err != nil {
		os.Remove(tmp.Name())
		log.Printf("state: %v", err)
	}
}

// saver writes the state when it changed, every 200 ms or, for large states, at most
// a fifth of the time (so that encoding does not slow a bulk load down much).
func (s *Server) saver(stop <-chan struct{}) {
	wait := 200 * time.Millisecond
	for {
		select {
		case <-time.After(wait):
			start := time.Now()
			s.saveState()
			wait = max(200*time.Millisecond, 4*time.Since(start))
		case <-stop:
			return
		}
	}
}
