// Package e2e holds the end-to-end tests: the real commands, built once,
// run as separate processes the way a user runs them, talking over TLS on
// loopback (and, for real builds, to the machine's Docker engine).
package e2e
