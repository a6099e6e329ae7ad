package main

import (
	"fmt"
	"sync"
	"testing"
)

// Many clients at once: collections upserts, queries and a bulk job interleave
// without lost writes (run with -race).
func TestConcurrentClients(t *testing.T) {
	h := newHarness(t, nil)
	var sb []byte
	sb = append(sb, "External_Id__c,LastName\n"...)
	for i := 0; i < 3000; i++ {
		sb = fmt.Appendf(sb, "BULK-%d,B\n", i)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.bulkRun(map[string]any{"object": "Contact", "operation": "upsert", "externalIdFieldName": "External_Id__c"}, string(sb), "JobComplete")
	}()
	errs := make(chan string, 100)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for round := 0; round < 5; round++ {
				recs := make([]any, 0, 40)
				for i := 0; i < 40; i++ {
					recs = append(recs, rec("Contact", "External_Id__c", fmt.Sprintf("G%d-%d", g, i), "LastName", fmt.Sprintf("r%d", round)))
				}
				st, _, body := h.do("PATCH", "composite/sobjects/Contact/External_Id__c", map[string]any{"records": recs})
				if st != 200 {
					errs <- fmt.Sprintf("upsert %d: %s", st, body)
					return
				}
				q := h.query(fmt.Sprintf("SELECT Id FROM Contact WHERE External_Id__c LIKE 'G%d-%%'", g))
				if q.TotalSize != 40 {
					errs <- fmt.Sprintf("goroutine %d round %d sees %d records", g, round, q.TotalSize)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := h.query("SELECT COUNT() FROM Contact").TotalSize; n != 3000+6*40 {
		t.Fatalf("total %d", n)
	}
	if n := h.query("SELECT COUNT() FROM Contact WHERE LastName = 'r4'").TotalSize; n != 240 {
		t.Fatalf("last round visible on %d records", n)
	}
}
