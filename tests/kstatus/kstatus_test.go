package kstatus

import (
	"testing"

	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// What kstatus (and so Flux health checks, kpt, cli-utils apply --wait) makes
// of each status shape the controller writes. Every fixture must be listed.
var kstatusWant = map[string]struct {
	status status.Status
	why    string
}{
	"healthy.yaml": {status.CurrentStatus,
		"Ready=True, Reconciling/Stalled False, generation observed"},
	"no-run-yet.yaml": {status.CurrentStatus,
		"a run outcome is not part of readiness: LastRunSucceeded=Unknown is fine"},
	"running.yaml": {status.InProgressStatus,
		"Reconciling=True while a run is in progress"},
	"generation-not-observed.yaml": {status.InProgressStatus,
		"status.observedGeneration behind metadata.generation"},
	"stalled-invalid-spec.yaml": {status.FailedStatus,
		"Stalled=True (InvalidSpec)"},
	"stalled-run-rejected.yaml": {status.FailedStatus,
		"Stalled=True (RunRejected)"},
	"last-run-failed.yaml": {status.CurrentStatus,
		"the job is reconciled; a failed run is reported by LastRunSucceeded=False, " +
			"which kstatus does not read (Argo CD health and the alerts do)"},
	"threshold-exceeded.yaml": {status.CurrentStatus,
		"as last-run-failed: the run ended ThresholdExceeded, the object is current"},
	"suspended.yaml": {status.CurrentStatus,
		"a suspended job is reconciled (Ready=True reason Suspended)"},
	"no-status.yaml": {status.CurrentStatus,
		"kstatus treats an object without observedGeneration and conditions as Current: " +
			"the documented Flux healthCheckExprs closes this gap"},
	"deleting.yaml": {status.TerminatingStatus,
		"deletionTimestamp set"},
}

func TestKstatusCompute(t *testing.T) {
	fx := fixtureObjects(t)
	for _, name := range sortedKeys(fx) {
		want, ok := kstatusWant[name]
		if !ok {
			t.Errorf("%s: fixture without a kstatus expectation", name)
			continue
		}
		obj := fx[name]
		t.Run(name, func(t *testing.T) {
			res, err := status.Compute(obj)
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if res.Status != want.status {
				t.Fatalf("kstatus %s (%s), want %s: %s", res.Status, res.Message,
					want.status, want.why)
			}
			t.Logf("%s: %s", res.Status, res.Message)
		})
	}
	for name := range kstatusWant {
		if _, ok := fx[name]; !ok {
			t.Errorf("expectation for missing fixture %s", name)
		}
	}
}

// kstatus also augments conditions for kinds without them; for ours it must
// find the controller's own Ready/Reconciling/Stalled and leave them alone.
func TestKstatusReadsOwnConditions(t *testing.T) {
	fx := fixtureObjects(t)
	res, err := status.Compute(fx["stalled-invalid-spec.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	if res.Message == "" {
		t.Fatal("Failed without a message")
	}
	found := false
	for _, c := range res.Conditions {
		if c.Type == status.ConditionStalled && c.Reason == "InvalidSpec" {
			found = true
		}
	}
	if !found {
		t.Fatalf("kstatus did not report the Stalled/InvalidSpec condition: %+v", res.Conditions)
	}
	// The generation check comes before the conditions.
	res, err = status.Compute(fx["generation-not-observed.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != status.InProgressStatus {
		t.Fatalf("got %s", res.Status)
	}
}
