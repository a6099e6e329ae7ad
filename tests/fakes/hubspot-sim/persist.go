package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

type stateRecord struct {
	ID      string            `json:"id"`
	Props   map[string]string `json:"properties"`
	Created time.Time         `json:"createdAt"`
	Updated time.Time         `json:"updatedAt"`
}

// stateFile is what --state DIR keeps in DIR/state.json.
type stateFile struct {
	NextID  int64                    `json:"nextId"`
	Objects map[string][]stateRecord `json:"objects"` // by type id
}

func (s *Server) statePath() string { return filepath.Join(s.opts.StateDir, "state.json") }

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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store.nextID = st.NextID
	for typeID, recs := range st.Objects {
		o := s.store.schema.object(typeID)
		if o == nil {
			log.Printf("state: object %s is not in the schema; its %d records are dropped", typeID, len(recs))
			continue
		}
		t := s.store.table(o)
		sort.Slice(recs, func(i, j int) bool {
			a, _ := strconv.ParseInt(recs[i].ID, 10, 64)
			b, _ := strconv.ParseInt(recs[j].ID, 10, 64)
			return a < b
		})
		for _, sr := range recs {
			r := &Record{ID: sr.ID, Props: map[string]string{}, Created: sr.Created}
			t.byID[r.ID] = r
			t.order = append(t.order, r)
			s.store.apply(t, r, sr.Props, sr.Updated)
		}
	}
	s.store.writes = 0
	return nil
}

// saveState writes state.json atomically (temp file, fsync, rename).
func (s *Server) saveState() {
	s.mu.Lock()
	st := stateFile{NextID: s.store.nextID, Objects: map[string][]stateRecord{}}
	for id, t := range s.store.tables {
		for _, r := range t.live() {
			props := make(map[string]string, len(r.Props))
			for k, v := range r.Props {
				props[k] = v
			}
			st.Objects[id] = append(st.Objects[id], stateRecord{r.ID, props, r.Created, r.Updated})
		}
	}
	s.dirty = false
	s.mu.Unlock()
	data, err := json.Marshal(st)
	if err != nil {
		log.Printf("state: %v", err)
		return
	}
	tmp, err := os.CreateTemp(s.opts.StateDir, ".state-*")
	if err != nil {
		log.Printf("state: %v", err)
		return
	}
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if werr != nil || serr != nil || cerr != nil {
		os.Remove(tmp.Name())
		log.Printf("state: could not write %s", tmp.Name())
		return
	}
	if err := os.Rename(tmp.Name(), s.statePath()); err != nil {
		os.Remove(tmp.Name())
		log.Printf("state: %v", err)
	}
}

// saver flushes the state about every 200 ms while it changes.
func (s *Server) saver(stop <-chan struct{}) {
	tk := time.NewTicker(200 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			s.mu.Lock()
			d := s.dirty
			s.mu.Unlock()
			if d {
				s.saveState()
			}
		}
	}
}
