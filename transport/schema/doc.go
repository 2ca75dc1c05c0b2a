// Package schema is the Go code generated from cluster.capnp, the wire
// protocol of the scheduler, its workers, clients and admins. Edit the
// .capnp file and run gen.sh; a test fails when this code is stale.
package schema
