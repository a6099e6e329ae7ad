package main

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Rule is an injected validation rule: when the written record's field matches, the
// record fails with Code (default FIELD_CUSTOM_VALIDATION_EXCEPTION) and Message.
type Rule struct {
	Object   string   `json:"object"`
	Field    string   `json:"field"`
	Equals   *string  `json:"equals,omitempty"`
	Contains string   `json:"contains,omitempty"`
	Matches  string   `json:"matches,omitempty"`
	IsNull   bool     `json:"isNull,omitempty"`
	Code     string   `json:"code,omitempty"`
	Message  string   `json:"message,omitempty"`
	Fields   []string `json:"fields,omitempty"`
	re       *regexp.Regexp
}

// FaultConfig is the JSON accepted by POST /__admin/faults. Counters count down as
// they fire; absent keys leave the current setting unchanged.
type FaultConfig struct {
	Rules              []Rule  `json:"validationRules"`
	RequestLimitAfter  *int    `json:"requestLimitAfter,omitempty"`   // after N more API calls: 403 REQUEST_LIMIT_EXCEEDED (TotalRequests) until cleared
	ConcurrentLimitNxt *int    `json:"concurrentLimitNext,omitempty"` // next N API calls: 403 REQUEST_LIMIT_EXCEEDED (ConcurrentRequests)
	UnavailableNext    *int    `json:"unavailableNext,omitempty"`     // next N API calls: 503 SERVER_UNAVAILABLE
	UnavailableStatus  *int    `json:"unavailableStatus,omitempty"`   // status for unavailableNext (default 503)
	PathContains       *string `json:"pathContains,omitempty"`        // restrict the request faults above to paths containing this
	DelayMs            *int    `json:"delayMs,omitempty"`             // every API call (and token call) sleeps this long
	LockRowNext        *int    `json:"lockRowNext,omitempty"`         // next N record writes: UNABLE_TO_LOCK_ROW
	TokenErrorNext     *int    `json:"tokenErrorNext,omitempty"`      // next N token requests: 400 invalid_grant authentication failure
	ExpireSessions     bool    `json:"expireSessions,omitempty"`      // invalidate every access token now
	DailyAPILimit      *int    `json:"dailyApiLimit,omitempty"`       // change DailyApiRequests Max
	ClearRules         bool    `json:"clearRules,omitempty"`
	ShuffleBulkResults *bool   `json:"shuffleBulkResults,omitempty"` // Bulk result rows in random order
	BulkDelayMs        *int    `json:"bulkDelayMs,omitempty"`        // Bulk processing time (overrides --bulk-delay; -1 restores it)
	BulkFailNext       *int    `json:"bulkFailNext,omitempty"`       // next N ingest jobs fail half way (state Failed)
}

// Faults holds the active fault settings.
type Faults struct {
	mu                sync.Mutex
	rules             []Rule
	requestLimitAfter int // -1: off
	concurrentNext    int
	unavailableNext   int
	unavailableStatus int
	pathContains      string
	delayMs           int
	lockRowNext       int
	tokenErrorNext    int
	shuffle           bool
	bulkDelayMs       int // -1: the --bulk-delay flag
	bulkFailNext      int
	fired             map[string]int
}

func newFaults() *Faults {
	f := &Faults{fired: map[string]int{}}
	f.clear()
	return f
}

func (f *Faults) clear() {
	f.rules = nil
	f.requestLimitAfter = -1
	f.concurrentNext, f.unavailableNext, f.lockRowNext, f.tokenErrorNext, f.delayMs = 0, 0, 0, 0, 0
	f.unavailableStatus = 503
	f.pathContains = ""
	f.shuffle = false
	f.bulkDelayMs = -1
	f.bulkFailNext = 0
}

func (f *Faults) apply(c *FaultConfig, schema *Schema) error {
	for i := range c.Rules {
		r := &c.Rules[i]
		o := schema.object(r.Object)
		if o == nil {
			return fmt.Errorf("validationRules[%d]: unknown object %q", i, r.Object)
		}
		fl := o.field(r.Field)
		if fl == nil {
			return fmt.Errorf("validationRules[%d]: unknown field %s.%s", i, r.Object, r.Field)
		}
		r.Object, r.Field = o.Name, fl.Name
		if r.Matches != "" {
			re, err := regexp.Compile(r.Matches)
			if err != nil {
				return fmt.Errorf("validationRules[%d]: %v", i, err)
			}
			r.re = re
		}
		if r.Equals == nil && r.Contains == "" && r.Matches == "" && !r.IsNull {
			return fmt.Errorf("validationRules[%d]: needs equals, contains, matches or isNull", i)
		}
		if r.Code == "" {
			r.Code = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
		}
		if r.Message == "" {
			r.Message = fmt.Sprintf("%s is not valid", r.Field)
		}
		if r.Fields == nil {
			r.Fields = []string{}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.ClearRules {
		f.rules = nil
	}
	f.rules = append(f.rules, c.Rules...)
	if c.RequestLimitAfter != nil {
		f.requestLimitAfter = *c.RequestLimitAfter
	}
	if c.ConcurrentLimitNxt != nil {
		f.concurrentNext = *c.ConcurrentLimitNxt
	}
	if c.UnavailableNext != nil {
		f.unavailableNext = *c.UnavailableNext
	}
	if c.UnavailableStatus != nil {
		f.unavailableStatus = *c.UnavailableStatus
	}
	if c.PathContains != nil {
		f.pathContains = *c.PathContains
	}
	if c.DelayMs != nil {
		f.delayMs = *c.DelayMs
	}
	if c.LockRowNext != nil {
		f.lockRowNext = *c.LockRowNext
	}
	if c.TokenErrorNext != nil {
		f.tokenErrorNext = *c.TokenErrorNext
	}
	if c.ShuffleBulkResults != nil {
		f.shuffle = *c.ShuffleBulkResults
	}
	if c.BulkDelayMs != nil {
		f.bulkDelayMs = *c.BulkDelayMs
	}
	if c.BulkFailNext != nil {
		f.bulkFailNext = *c.BulkFailNext
	}
	return nil
}

func (f *Faults) snapshot() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	rules := f.rules
	if rules == nil {
		rules = []Rule{}
	}
	fired := map[string]int{}
	for k, v := range f.fired {
		fired[k] = v
	}
	return map[string]any{
		"validationRules": rules, "requestLimitAfter": f.requestLimitAfter, "concurrentLimitNext": f.concurrentNext,
		"unavailableNext": f.unavailableNext, "unavailableStatus": f.unavailableStatus, "pathContains": f.pathContains,
		"delayMs": f.delayMs, "lockRowNext": f.lockRowNext, "tokenErrorNext": f.tokenErrorNext, "shuffleBulkResults": f.shuffle, "bulkDelayMs": f.bulkDelayMs, "bulkFailNext": f.bulkFailNext, "fired": fired,
	}
}

func (f *Faults) delay() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delayMs
}

// requestFault decides whether an API call fails before reaching its handler.
// It returns the status, errorCode and message, or status 0.
func (f *Faults) requestFault(path string) (int, string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pathContains != "" && !strings.Contains(path, f.pathContains) {
		return 0, "", ""
	}
	if f.requestLimitAfter == 0 {
		f.fired["requestLimit"]++
		return 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
	}
	if f.requestLimitAfter > 0 {
		f.requestLimitAfter--
	}
	if f.unavailableNext > 0 {
		f.unavailableNext--
		f.fired["unavailable"]++
		if f.unavailableStatus == 500 {
			return 500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support: 1951436051-12345 (-1386364839)"
		}
		return f.unavailableStatus, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please retry your request"
	}
	if f.concurrentNext > 0 {
		f.concurrentNext--
		f.fired["concurrentLimit"]++
		return 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
	}
	return 0, "", ""
}

func (f *Faults) takeLock() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lockRowNext > 0 {
		f.lockRowNext--
		f.fired["lockRow"]++
		return true
	}
	return false
}

func (f *Faults) takeTokenError() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokenErrorNext > 0 {
		f.tokenErrorNext--
		f.fired["tokenError"]++
		return true
	}
	return false
}

func (r *Rule) match(v any) bool {
	switch {
	case r.IsNull:
		return blank(v)
	case r.Equals != nil:
		return !blank(v) && formatValue(v) == *r.Equals
	case r.Contains != "":
		return strings.Contains(formatValue(v), r.Contains)
	case r.re != nil:
		return !blank(v) && r.re.MatchString(formatValue(v))
	}
	return false
}

func (f *Faults) checkRules(o *Object, rec map[string]any) *recErr {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.rules {
		r := &f.rules[i]
		if r.Object != o.Name {
			continue
		}
		if r.match(rec[r.Field]) {
			f.fired["validationRule"]++
			return rerr(r.Code, r.Message, r.Fields...)
		}
	}
	return nil
}

func (f *Faults) shuffleResults() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shuffle
}

// bulkDelay is the minimum processing time of a Bulk job.
func (f *Faults) bulkDelay(def time.Duration) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bulkDelayMs >= 0 {
		return time.Duration(f.bulkDelayMs) * time.Millisecond
	}
	return def
}

func (f *Faults) takeBulkFail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bulkFailNext > 0 {
		f.bulkFailNext--
		f.fired["bulkFail"]++
		return true
	}
	return false
}
