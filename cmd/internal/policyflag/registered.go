package policyflag

// The policies written outside the core that every command taking
// --policy can run (ocluster-sim, ocluster-stress, ocluster-scheduler):
// a policy package registers itself when imported, so one line here makes
// a new one a choice everywhere. See docs/writing-a-policy.md.
import (
	_ "github.com/ocluster-go/ocluster/policies/scfq"
)
