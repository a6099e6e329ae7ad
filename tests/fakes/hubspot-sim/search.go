package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

type filter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        any    `json:"value"`
	HighValue    any    `json:"highValue"`
	Values       []any  `json:"values"`
}

type searchRequest struct {
	FilterGroups []struct {
		Filters []filter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []json.RawMessage `json:"sorts"`
	Properties []string          `json:"properties"`
	Limit      int               `json:"limit"`
	After      any               `json:"after"`
	Query      string            `json:"query"`
}

// compare orders two property values: numerically when both are numbers.
func compare(a, b string) int {
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func (t *Table) matches(r *Record, f filter) bool {
	v, has := t.value(r, f.PropertyName)
	want, _ := rawString(f.Value)
	switch f.Operator {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	case "EQ":
		return has && compare(v, want) == 0
	case "NEQ":
		return !has || compare(v, want) != 0
	case "LT":
		return has && compare(v, want) < 0
	case "LTE":
		return has && compare(v, want) <= 0
	case "GT":
		return has && compare(v, want) > 0
	case "GTE":
		return has && compare(v, want) >= 0
	case "BETWEEN":
		hi, _ := rawString(f.HighValue)
		return has && compare(v, want) >= 0 && compare(v, hi) <= 0
	case "IN", "NOT_IN":
		in := false
		for _, x := range f.Values {
			if xs, _ := rawString(x); has && compare(v, xs) == 0 {
				in = true
			}
		}
		return in == (f.Operator == "IN")
	case "CONTAINS_TOKEN":
		return has && strings.Contains(strings.ToLower(v), strings.Trim(strings.ToLower(want), "*"))
	case "NOT_CONTAINS_TOKEN":
		return !has || !strings.Contains(strings.ToLower(v), strings.Trim(strings.ToLower(want), "*"))
	}
	return false
}

// handleSearch is POST /crm/v3/objects/{type}/search (exempt from the ten-secondly limit).
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, o *ObjectType) *apiErr {
	var req searchRequest
	if e := readJSON(r, &req); e != nil {
		return e
	}
	if len(req.FilterGroups) > 5 {
		return validationErr("Too many filter groups: at most 5 are allowed")
	}
	total := 0
	for _, g := range req.FilterGroups {
		if len(g.Filters) > 6 {
			return validationErr("Too many filters in a group: at most 6 are allowed")
		}
		total += len(g.Filters)
		for _, f := range g.Filters {
			if o.Props[f.PropertyName] == nil {
				return validationErr(fmt.Sprintf("There was a problem with the request. Property %s does not exist", f.PropertyName))
			}
		}
	}
	if total > 18 {
		return validationErr("Too many filters: at most 18 are allowed")
	}
	limit := req.Limit
	if limit == 0 {
		limit = 10
	}
	if limit < 0 || limit > 200 {
		return validationErr("limit must be between 1 and 200")
	}
	offset := 0
	if req.After != nil {
		as, _ := rawString(req.After)
		n, err := strconv.Atoi(as)
		if err != nil || n < 0 {
			return validationErr("after must be an integer offset")
		}
		offset = n
	}
	if offset+limit > 10000 {
		return validationErr("Search results are limited to 10,000: page beyond it with a narrower filter")
	}
	sortProp, desc := "hs_object_id", false
	if len(req.Sorts) > 0 {
		var str string
		var obj struct {
			PropertyName string `json:"propertyName"`
			Direction    string `json:"direction"`
		}
		if json.Unmarshal(req.Sorts[0], &str) == nil {
			desc = strings.HasPrefix(str, "-")
			sortProp = strings.TrimPrefix(str, "-")
		} else if json.Unmarshal(req.Sorts[0], &obj) == nil {
			sortProp, desc = obj.PropertyName, obj.Direction == "DESCENDING"
		}
	}
	props := req.Properties
	if len(props) == 0 {
		props = o.defaultProps()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.store.table(o)
	var hits []*Record
	for _, rec := range t.live() {
		ok := len(req.FilterGroups) == 0
		for _, g := range req.FilterGroups {
			all := true
			for _, f := range g.Filters {
				if !t.matches(rec, f) {
					all = false
					break
				}
			}
			if all {
				ok = true
				break
			}
		}
		if ok && req.Query != "" {
			ok = false
			for _, v := range rec.Props {
				if strings.Contains(strings.ToLower(v), strings.ToLower(req.Query)) {
					ok = true
				}
			}
		}
		if ok {
			hits = append(hits, rec)
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		a, _ := t.value(hits[i], sortProp)
		b, _ := t.value(hits[j], sortProp)
		c := compare(a, b)
		if desc {
			return c > 0
		}
		return c < 0
	})
	results := []map[string]any{}
	for i := offset; i < len(hits) && i < offset+limit; i++ {
		results = append(results, t.recordJSON(hits[i], props, true))
	}
	body := map[string]any{"total": len(hits), "results": results}
	if offset+limit < len(hits) {
		body["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(offset + limit)}}
	}
	writeJSON(w, 200, body)
	return nil
}
