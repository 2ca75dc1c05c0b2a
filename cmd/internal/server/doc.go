// Package server starts a production scheduler from its settings: its TLS
// identity, its state restored from the store, its listener and public
// address, its trace, its capability files and its metrics. The scheduler
// command and the live testbed (ocluster-stress) both start it here, so
// that the testbed measures the scheduler that ships.
//
// It reads no flags (its callers check them and fill in a Config), and it
// belongs to the commands: it must never be imported outside cmd/.
package server
