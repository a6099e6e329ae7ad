package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Rule fails records whose written property matches (per-record VALIDATION_ERROR).
type Rule struct {
	Object   string  `json:"object"`
	Property string  `json:"property"`
	Equals   *string `json:"equals,omitempty"`
	Contains string  `json:"contains,omitempty"`
	Message  string  `json:"message,omitempty"`
	Code     string  `json:"code,omitempty"`
}

// FaultConfig is the JSON of POST /__admin/faults. Counters count down as they
// fire; absent keys leave the current setting unchanged.
type FaultConfig struct {
	Rules          []Rule  `json:"validationRules"`
	ClearRules     bool    `json:"clearRules,omitempty"`
	StatusNext     *int    `json:"statusNext,omitempty"`     // next N API calls answer Status (default 503)
	Status         *int    `json:"status,omitempty"`         // status for statusNext: 423, 477, 500, 502, 503, 504 ...
	RateLimitNext  *int    `json:"rateLimitNext,omitempty"`  // next N API calls: 429 TEN_SECONDLY_ROLLING
	GarbageNext    *int    `json:"garbageNext,omitempty"`    // next N API calls: 200 with an HTML body
	HangNext       *int    `json:"hangNext,omitempty"`       // next N API calls: never answer (until the client gives up)
	PathContains   *string `json:"pathContains,omitempty"`   // restrict the request faults above to these paths
	DelayMs        *int    `json:"delayMs,omitempty"`        // every API call sleeps this long first
	RateLimit      *int    `json:"rateLimit,omitempty"`      // change --rate-limit (0: off)
	DailyRemaining *int    `json:"dailyRemaining,omitempty"` // set the calls left today
}

// Faults holds the active fault settings.
type Faults struct {
	mu            sync.Mutex
	rules         []Rule
	statusNext    int
	status        int
	rateLimitNext int
	garbageNext   int
	hangNext      int
	pathContains  string
	delayMs       int
	fired         map[string]int
}

func newFaults() *Faults {
	f := &Faults{fired: map[string]int{}}
	f.clear()
	return f
}

func (f *Faults) clear() {
	f.rules = nil
	f.statusNext, f.rateLimitNext, f.garbageNext, f.hangNext, f.delayMs = 0, 0, 0, 0, 0
	f.status = 503
	f.pathContains = ""
}

func (f *Faults) apply(c *FaultConfig, schema *Schema) error {
	for i := range c.Rules {
		r := &c.Rules[i]
		o := schema.object(r.Object)
		if o == nil {
			return fmt.Errorf("validationRules[%d]: unknown object %q", i, r.Object)
		}
		if o.Props[r.Property] == nil {
			return fmt.Errorf("validationRules[%d]: unknown property %s.%s", i, r.Object, r.Property)
		}
		if r.Equals == nil && r.Contains == "" {
			return fmt.Errorf("validationRules[%d]: needs equals or contains", i)
		}
		r.Object = o.TypeID
		if r.Code == "" {
			r.Code = "INVALID_VALUE"
		}
		if r.Message == "" {
			r.Message = fmt.Sprintf("%s is not valid", r.Property)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.ClearRules {
		f.rules = nil
	}
	f.rules = append(f.rules, c.Rules...)
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	set(&f.statusNext, c.StatusNext)
	set(&f.status, c.Status)
	set(&f.rateLimitNext, c.RateLimitNext)
	set(&f.garbageNext, c.GarbageNext)
	set(&f.hangNext, c.HangNext)
	set(&f.delayMs, c.DelayMs)
	if c.PathContains != nil {
		f.pathContains = *c.PathContains
	}
	return nil
}

func (f *Faults) snapshot() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	fired := map[string]int{}
	for k, v := range f.fired {
		fired[k] = v
	}
	return map[string]any{"validationRules": len(f.rules), "statusNext": f.statusNext, "status": f.status,
		"rateLimitNext": f.rateLimitNext, "garbageNext": f.garbageNext, "hangNext": f.hangNext,
		"pathContains": f.pathContains, "delayMs": f.delayMs, "fired": fired}
}

// ruleFor returns the first rule the written values break, as a property error.
func (f *Faults) ruleFor(o *ObjectType, props map[string]string) *propErr {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.Object != o.TypeID {
			continue
		}
		v, ok := props[r.Property]
		if !ok {
			continue
		}
		if (r.Equals != nil && v == *r.Equals) || (r.Contains != "" && strings.Contains(v, r.Contains)) {
			f.fired["validationRule"]++
			return &propErr{r.Property, r.Code, r.Message}
		}
	}
	return nil
}

// fire answers the request with an injected fault, if one is due.
func (f *Faults) fire(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	delay := f.delayMs
	match := f.pathContains == "" || strings.Contains(r.URL.Path, f.pathContains)
	kind := ""
	status := f.status
	switch {
	case !match:
	case f.hangNext > 0:
		f.hangNext--
		kind = "hang"
	case f.rateLimitNext > 0:
		f.rateLimitNext--
		kind = "rateLimit"
	case f.statusNext > 0:
		f.statusNext--
		kind = "status"
	case f.garbageNext > 0:
		f.garbageNext--
		kind = "garbage"
	}
	if kind != "" {
		f.fired[kind]++
	}
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(time.Duration(delay) * time.Millisecond)
	}
	switch kind {
	case "hang":
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Minute):
		}
		return true
	case "rateLimit":
		w.Header().Set("X-HubSpot-RateLimit-Remaining", "0")
		w.Header().Set("Retry-After", "1")
		writeJSON(w, 429, map[string]any{"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
			"errorType": "RATE_LIMIT", "correlationId": newUUID(), "policyName": "TEN_SECONDLY_ROLLING", "requestId": newUUID()})
		return true
	case "status":
		if status == 477 || status == 503 {
			w.Header().Set("Retry-After", "1")
		}
		category := "INTERNAL_ERROR"
		msg := "internal error"
		if status == 423 {
			category, msg = "LOCKED", "The resource is locked: too many requests updating the same records. Wait at least 2 seconds."
		}
		(&apiErr{status: status, category: category, message: msg}).write(w)
		return true
	case "garbage":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(200)
		w.Write([]byte("<html><body>502 Bad Gateway (garbage from a proxy)</body></html>"))
		return true
	}
	return false
}
