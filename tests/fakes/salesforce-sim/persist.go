package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// stateFile is what --state DIR keeps in DIR/state.json.
type stateFile struct {
	Counter  uint64                      `json:"counter"`
	Seq      uint64                      `json:"seq"`
	APIUsed  int                         `json:"apiUsed"`
	Objects  map[string][]map[string]any `json:"objects"`
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

// snapshotState marshals the state; must hold s.mu.
func (s *Server) snapshotState() ([]byte, error) {
	st := stateFile{Counter: s.store.counter, Seq: s.store.seq, Objects: map[string][]map[string]any{}, Deleted: map[string][]string{}}
	s.statsMu.Lock()
	st.APIUsed = s.apiUsed
	s.statsMu.Unlock()
	for _, t := range s.store.tables {
		var recs []map[string]any
		for _, r := range t.list {
			if r.deleted {
				continue
			}
			m := make(map[string]any, len(r.F)+1)
			for k, v := range r.F {
				m[k] = v
			}
			m["__seq"] = r.seq
			recs = append(recs, m)
		}
		if len(recs) > 0 {
			st.Objects[t.obj.Name] = recs
		}
		for id := range t.deletedIds {
			st.Deleted[t.obj.Name] = append(st.Deleted[t.obj.Name], id)
		}
	}
	s.tokMu.Lock()
	st.Sessions = map[string]*session{}
	for k, v := range s.sessions {
		if !strings.EqualFold(k, s.opts.StaticToken) {
			st.Sessions[k] = v
		}
	}
	data, err := json.Marshal(&st)
	s.tokMu.Unlock()
	return data, err
}

// saveState writes the state atomically (temp file, fsync, rename) when it changed.
func (s *Server) saveState() {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return
	}
	s.dirty = false
	data, err := s.snapshotState()
	s.mu.Unlock()
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

func (s *Server) saver(stop <-chan struct{}) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			s.saveState()
		case <-stop:
			return
		}
	}
}
