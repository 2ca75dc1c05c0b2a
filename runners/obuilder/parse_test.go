package obuilder

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want Spec
	}{
		{"minimal", `((from busybox))`, Spec{From: "busybox"}},
		{"every operation", `
; a comment line
((from ocaml/opam:debian) ; trailing comment
 (comment "Build the thing")
 (workdir /src)
 (shell /bin/bash -c)
 (run (cache (opam-archives (target /home/opam/.opam/download-cache)))
      (network host)
      (secrets (token (target /run/secrets/token)))
      (shell "opam install . --deps-only"))
 (copy (src a.opam b.opam) (dst ./) (exclude .git _build))
 (user (uid 1000) (gid 1001))
 (env HOME /home/opam))`,
			Spec{From: "ocaml/opam:debian", Ops: []Op{
				&Comment{Text: "Build the thing"},
				&Workdir{Dir: "/src"},
				&Shell{Args: []string{"/bin/bash", "-c"}},
				&Run{
					Caches:  []Mount{{ID: "opam-archives", Target: "/home/opam/.opam/download-cache"}},
					Network: "host",
					Secrets: []Mount{{ID: "token", Target: "/run/secrets/token"}},
					Shell:   "opam install . --deps-only",
				},
				&Copy{Src: []string{"a.opam", "b.opam"}, Dst: "./", Exclude: []string{".git", "_build"}},
				&User{UID: 1000, GID: 1001},
				&Env{Name: "HOME", Value: "/home/opam"},
			}}},
		{"build stage as OBuilder prints it", `
((build dev
   ((from busybox)
    (run (shell "echo hi > /hi"))))
 (from alpine)
 (copy (from (build dev)) (src /hi) (dst /hi)))`,
			Spec{
				Stages: []Stage{{Name: "dev", Spec: Spec{From: "busybox", Ops: []Op{&Run{Shell: "echo hi > /hi"}}}}},
				From:   "alpine",
				Ops:    []Op{&Copy{From: "dev", Src: []string{"/hi"}, Dst: "/hi"}},
			}},
		{"build stage unwrapped, nested stages", `
((build outer
   (build inner ((from a)))
   (from b)
   (copy (from (build inner)) (src x) (dst y)))
 (build second ((from c)))
 (from d)
 (copy (from (build outer)) (src y) (dst z)))`,
			Spec{
				Stages: []Stage{
					{Name: "outer", Spec: Spec{
						Stages: []Stage{{Name: "inner", Spec: Spec{From: "a"}}},
						From:   "b",
						Ops:    []Op{&Copy{From: "inner", Src: []string{"x"}, Dst: "y"}},
					}},
					{Name: "second", Spec: Spec{From: "c"}},
				},
				From: "d",
				Ops:  []Op{&Copy{From: "outer", Src: []string{"y"}, Dst: "z"}},
			}},
		{"quoting and escapes", `((from "busy box") (env A "q\"b\\s\n\t\x41\066\
      end") (env "é" "ü") (comment ""))`,
			Spec{From: "busy box", Ops: []Op{
				&Env{Name: "A", Value: "q\"b\\s\n\tAB" + "end"},
				&Env{Name: "é", Value: "ü"},
				&Comment{Text: ""},
			}}},
		{"fields in any order, split mounts, empty network and exclude", `
((from x)
 (user (gid 2) (uid 1))
 (run (shell "true") (network) (cache (a (target /a))) (cache (b (target /b)) (c (target /c))))
 (copy (exclude) (dst /d/) (src s) (from context)))`,
			Spec{From: "x", Ops: []Op{
				&User{UID: 1, GID: 2},
				&Run{Shell: "true", Caches: []Mount{{"a", "/a"}, {"b", "/b"}, {"c", "/c"}}},
				&Copy{Src: []string{"s"}, Dst: "/d/"},
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse gave\n%#v\nwant\n%#v", got, tc.want)
			}
			printed := got.String()
			again, err := Parse(printed)
			if err != nil {
				t.Fatalf("Parse of the printed form\n%s\nfailed: %v", printed, err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Fatalf("the printed form\n%s\nparses to\n%#v", printed, again)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{``, `1:1: empty spec: expected ((from IMAGE) OPERATION...)`},
		{"  ; only a comment\n", `2:1: empty spec: expected ((from IMAGE) OPERATION...)`},
		{`((from busybox)`, `1:1: this ( is never closed: expected )`},
		{`((from x) (run (shell a))`, `1:1: this ( is never closed: expected )`},
		{`((from busybox)))`, `1:17: unexpected text after the end of the spec`},
		{`)`, `1:1: unexpected ) with no ( to close`},
		{`((from "busybox))`, `1:8: this string is never closed: expected "`},
		{"((from busybox)\n (run (cache (c (tar /x))) (shell a)))", `2:17: expected (target PATH) in a cache mount`},
		{`((from x) (run (cache (c)) (shell a)))`, `1:23: expected (ID (target PATH)) in a cache mount`},
		{`((from x) (run (shell a) (shell b)))`, `1:26: a second (shell ...) in (run ...)`},
		{`((from x) (run (network bridge) (shell a)))`, `1:25: unknown network bridge: only (network host) is supported`},
		{`((from x) (run (network host)))`, `1:30: expected (shell COMMAND) in (run ...)`},
		{`((from x) (run (secrets (tok (target run/x))) (shell a)))`, `1:38: the secret target run/x must be an absolute path`},
		{`((run (shell a)))`, `1:2: expected (build NAME SPEC) or (from IMAGE) before any operation, found (run ...)`},
		{`(from x)`, `1:2: expected (build NAME SPEC) or (from IMAGE), found atom from`},
		{`((build a ((from y))))`, `1:22: expected (from IMAGE) in the spec`},
		{`((from x) (frob 1))`, `1:12: unknown operation frob: expected one of comment, workdir, shell, run, copy, user, env`},
		{`((from "é") (frob))`, `1:14: unknown operation frob: expected one of comment, workdir, shell, run, copy, user, env`},
		{`((from x) (from y))`, `1:11: a spec has one (from IMAGE), before its operations`},
		{`((from x) (build a ((from y))))`, `1:11: (build NAME SPEC) stages must come before (from IMAGE)`},
		{`((build a ((from x))) (build a ((from y))) (from z))`, `1:30: a second build stage named a: stage names must be unique`},
		{`((from x) (copy (from (build nope)) (src a) (dst b)))`, `1:30: no build stage named nope before (from IMAGE) in this spec`},
		{`((from x) (copy (src a)))`, `1:24: expected (dst PATH) in (copy ...)`},
		{`((from x) (copy (dst a)))`, `1:24: expected (src PATH...) in (copy ...)`},
		{"((from x)\n; comment\n (copy (src a b) (dst /x) (exclude \"[\")))", `3:36: exclude pattern [ is not a valid pattern`},
		{`((from x) (user (uid -1) (gid 0)))`, `1:22: uid -1 is not a number from 0 to 4294967295`},
		{`((from x) (user (uid 1)))`, `1:24: expected (gid N) in (user ...)`},
		{`((from x) (user (name opam)))`, `1:17: users by name are not supported: use (user (uid N) (gid N))`},
		{`((from x) (env A=B c))`, `1:16: environment variable name A=B must be non-empty and contain no =`},
		{`((from x) (comment))`, `1:11: expected (comment TEXT)`},
		{`((from x) (workdir (a)))`, `1:20: expected (workdir DIR), found (a) inside it`},
		{`((from x) (run (shell "a\q")))`, `1:25: unknown escape \q in a string (use \\ for a backslash)`},
		{`((from x) (run (shell "a\300")))`, `1:25: character code \300 is above 255`},
		{`((from x) (run (shell "a\000")))`, `1:25: NUL character in a string`},
		{"((from a\x00b))", `1:9: NUL character in an atom`},
		{strings.Repeat("(", 100), `1:65: lists nested more than 64 deep`},
	} {
		_, err := Parse(tc.src)
		if err == nil {
			t.Errorf("Parse(%q) succeeded; want %q", tc.src, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q)\n got %q\nwant %q", tc.src, err.Error(), tc.want)
		}
	}
}

func TestOpString(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{&Run{Shell: "echo hi"}, `(run (shell "echo hi"))`},
		{&Run{Shell: "x", Network: "host", Secrets: []Mount{{"s", "/s"}}}, `(run (network host) (secrets (s (target /s))) (shell x))`},
		{&Copy{From: "dev", Src: []string{"a b", "c"}, Dst: "/d/", Exclude: []string{"*.o"}}, `(copy (from (build dev)) (src "a b" c) (dst /d/) (exclude *.o))`},
		{&Env{Name: "A", Value: ""}, `(env A "")`},
		{&Comment{Text: "tab\there; \"q\" \x01 \xff (p)"}, `(comment "tab\there; \"q\" \001 \255 (p)")`},
		{&User{UID: 0, GID: 4294967295}, `(user (uid 0) (gid 4294967295))`},
	} {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("String() = %s, want %s", got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`((from busybox))`,
		`((build dev ((from a) (run (shell "x")))) (from b) (copy (from (build dev)) (src /x) (dst /y) (exclude z)))`,
		`((from x) (run (cache (c (target /c))) (network host) (secrets (s (target /s))) (shell "a\"b\n")) (user (uid 1) (gid 2)))`,
		`((from x) (workdir /w) (shell /bin/sh -c) (env A "b c") (comment "\xff\001"))`,
		"((from x) ; c\n (copy (src a) (dst b)))",
		`((build a (from b) (run (shell c))) (from d))`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		spec, err := Parse(src)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("Parse returned a %T, not a *ParseError: %v", err, err)
			}
			return
		}
		printed := spec.String()
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("the canonical form of %q,\n%s\ndoes not parse: %v", src, printed, err)
		}
		if !reflect.DeepEqual(again, spec) {
			t.Fatalf("the canonical form of %q,\n%s\nparses to a different spec:\n%#v\nwant\n%#v", src, printed, again, spec)
		}
		if again.String() != printed {
			t.Fatalf("printing is not stable:\n%s\nthen\n%s", printed, again.String())
		}
	})
}
