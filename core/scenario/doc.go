// Package scenario runs scheduling scenarios (.scn files) against the core.
//
// A scenario drives one pool, under the policy and settings it may choose
// before creating the pool, step by step with a fake clock, and states the
// output it expects after each command, on lines that start with "> ". The
// format is documented in the project README. The package does no I/O: it
// takes a script's text and returns the script re-rendered with the actual
// output, and whether (and where) that differs from what was expected.
package scenario
