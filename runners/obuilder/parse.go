package obuilder

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseError locates a mistake in a spec. Line and Col count from 1; Col
// counts characters.
type ParseError struct {
	Line, Col int
	Msg       string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// maxDepth bounds nesting so that a hostile spec cannot exhaust the stack.
const maxDepth = 64

// sx is an S-expression as read, with where it starts (and, for a list,
// where its closing parenthesis is, for "missing item" errors).
type sx struct {
	list        bool
	atom        string
	items       []*sx
	line, col   int
	eline, ecol int
}

func (n *sx) errorf(format string, args ...any) *ParseError {
	return &ParseError{Line: n.line, Col: n.col, Msg: fmt.Sprintf(format, args...)}
}

func (n *sx) endErrorf(format string, args ...any) *ParseError {
	return &ParseError{Line: n.eline, Col: n.ecol, Msg: fmt.Sprintf(format, args...)}
}

// head is the operation or field name a list starts with, or "".
func (n *sx) head() string {
	if n.list && len(n.items) > 0 && !n.items[0].list {
		return n.items[0].atom
	}
	return ""
}

// describe names what was found, for "expected X, found Y" messages.
func (n *sx) describe() string {
	switch {
	case !n.list:
		return "atom " + quoteAtom(n.atom)
	case len(n.items) == 0:
		return "()"
	case n.head() != "" && len(n.items) == 1:
		return "(" + quoteAtom(n.head()) + ")"
	case n.head() != "":
		return "(" + quoteAtom(n.head()) + " ...)"
	}
	return "a list"
}

type lexer struct {
	src       string
	i         int
	line, col int
	depth     int
}

func (l *lexer) errorf(line, col int, format string, args ...any) *ParseError {
	return &ParseError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) eof() bool { return l.i >= len(l.src) }

// next consumes one character (a byte, when the text is not UTF-8).
func (l *lexer) next() {
	r, size := utf8.DecodeRuneInString(l.src[l.i:])
	l.i += size
	if r == '\n' {
		l.line, l.col = l.line+1, 1
	} else {
		l.col++
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func (l *lexer) skipBlank() {
	for !l.eof() {
		c := l.src[l.i]
		switch {
		case isSpace(c):
			l.next()
		case c == ';':
			for !l.eof() && l.src[l.i] != '\n' {
				l.next()
			}
		default:
			return
		}
	}
}

func (l *lexer) read() (*sx, error) {
	line, col := l.line, l.col
	switch c := l.src[l.i]; c {
	case '(':
		l.depth++
		if l.depth > maxDepth {
			return nil, l.errorf(line, col, "lists nested more than %d deep", maxDepth)
		}
		l.next()
		n := &sx{list: true, line: line, col: col}
		for {
			l.skipBlank()
			if l.eof() {
				return nil, l.errorf(line, col, "this ( is never closed: expected )")
			}
			if l.src[l.i] == ')' {
				n.eline, n.ecol = l.line, l.col
				l.next()
				l.depth--
				return n, nil
			}
			it, err := l.read()
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, it)
		}
	case ')':
		return nil, l.errorf(line, col, "unexpected ) with no ( to close")
	case '"':
		s, err := l.quoted()
		if err != nil {
			return nil, err
		}
		return &sx{atom: s, line: line, col: col}, nil
	}
	start := l.i
	for !l.eof() {
		c := l.src[l.i]
		if isSpace(c) || c == '(' || c == ')' || c == '"' || c == ';' {
			break
		}
		if c == 0 {
			return nil, l.errorf(l.line, l.col, "NUL character in an atom")
		}
		l.next()
	}
	return &sx{atom: l.src[start:l.i], line: line, col: col}, nil
}

// quoted reads a double-quoted string with OCaml-style escapes: \\ \" \n
// \t \r \b, \DDD (decimal), \xHH, and a backslash before a newline, which
// joins lines and drops the next line's indentation.
func (l *lexer) quoted() (string, error) {
	line, col := l.line, l.col
	l.next()
	var b strings.Builder
	for {
		if l.eof() {
			return "", l.errorf(line, col, "this string is never closed: expected \"")
		}
		c := l.src[l.i]
		if c == '"' {
			l.next()
			return b.String(), nil
		}
		if c != '\\' {
			if c == 0 {
				return "", l.errorf(l.line, l.col, "NUL character in a string")
			}
			start := l.i
			l.next()
			b.WriteString(l.src[start:l.i])
			continue
		}
		eline, ecol := l.line, l.col
		l.next()
		if l.eof() {
			return "", l.errorf(line, col, "this string is never closed: expected \"")
		}
		e := l.src[l.i]
		switch e {
		case '\\', '"', '\'':
			b.WriteByte(e)
			l.next()
		case 'n':
			b.WriteByte('\n')
			l.next()
		case 't':
			b.WriteByte('\t')
			l.next()
		case 'r':
			b.WriteByte('\r')
			l.next()
		case 'b':
			b.WriteByte('\b')
			l.next()
		case '\n', '\r':
			if e == '\r' {
				l.next()
				if l.eof() || l.src[l.i] != '\n' {
					return "", l.errorf(eline, ecol, `expected a newline after \ and carriage return`)
				}
			}
			l.next()
			for !l.eof() && (l.src[l.i] == ' ' || l.src[l.i] == '\t') {
				l.next()
			}
		case 'x':
			if l.i+3 > len(l.src) || !isHex(l.src[l.i+1]) || !isHex(l.src[l.i+2]) {
				return "", l.errorf(eline, ecol, `expected two hexadecimal digits after \x`)
			}
			v, _ := strconv.ParseUint(l.src[l.i+1:l.i+3], 16, 8)
			if v == 0 {
				return "", l.errorf(eline, ecol, "NUL character in a string")
			}
			b.WriteByte(byte(v))
			l.next()
			l.next()
			l.next()
		default:
			if e < '0' || e > '9' {
				r, _ := utf8.DecodeRuneInString(l.src[l.i:])
				return "", l.errorf(eline, ecol, `unknown escape \%c in a string (use \\ for a backslash)`, r)
			}
			if l.i+3 > len(l.src) || !isDigit(l.src[l.i+1]) || !isDigit(l.src[l.i+2]) {
				return "", l.errorf(eline, ecol, `expected three decimal digits after \ in a string`)
			}
			v, _ := strconv.Atoi(l.src[l.i : l.i+3])
			if v > 255 {
				return "", l.errorf(eline, ecol, `character code \%s is above 255`, l.src[l.i:l.i+3])
			}
			if v == 0 {
				return "", l.errorf(eline, ecol, "NUL character in a string")
			}
			b.WriteByte(byte(v))
			l.next()
			l.next()
			l.next()
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// readSexp reads exactly one S-expression, with blanks and comments around
// it.
func readSexp(src string) (*sx, error) {
	l := &lexer{src: src, line: 1, col: 1}
	l.skipBlank()
	if l.eof() {
		return nil, l.errorf(l.line, l.col, "empty spec: expected ((from IMAGE) OPERATION...)")
	}
	n, err := l.read()
	if err != nil {
		return nil, err
	}
	l.skipBlank()
	if !l.eof() {
		return nil, l.errorf(l.line, l.col, "unexpected text after the end of the spec")
	}
	return n, nil
}

// Parse reads a spec written in OBuilder's S-expression syntax. A build
// stage may be written (build NAME ((from ...) ...)), as OBuilder prints it,
// or (build NAME (from ...) ...).
func Parse(src string) (Spec, error) {
	n, err := readSexp(src)
	if err != nil {
		return Spec{}, err
	}
	return parseSpec(n)
}

var opNames = "comment, workdir, shell, run, copy, user, env"

func parseSpec(n *sx) (Spec, error) {
	var s Spec
	if !n.list {
		return s, n.errorf("expected a spec such as ((from IMAGE) OPERATION...), found %s", n.describe())
	}
	stages := map[string]bool{}
	i := 0
	for ; i < len(n.items); i++ {
		it := n.items[i]
		switch it.head() {
		case "build":
			st, err := parseStage(it)
			if err != nil {
				return s, err
			}
			if stages[st.Name] {
				return s, it.items[1].errorf("a second build stage named %s: stage names must be unique", quoteAtom(st.Name))
			}
			stages[st.Name] = true
			s.Stages = append(s.Stages, st)
			continue
		case "from":
			if len(it.items) != 2 || it.items[1].list {
				return s, it.errorf("expected (from IMAGE)")
			}
			if it.items[1].atom == "" {
				return s, it.items[1].errorf("the base image name is empty")
			}
			s.From = it.items[1].atom
		case "":
			return s, it.errorf("expected (build NAME SPEC) or (from IMAGE), found %s", it.describe())
		default:
			return s, it.errorf("expected (build NAME SPEC) or (from IMAGE) before any operation, found %s", it.describe())
		}
		break
	}
	if i == len(n.items) {
		return s, n.endErrorf("expected (from IMAGE) in the spec")
	}
	for _, it := range n.items[i+1:] {
		op, err := parseOp(it, stages)
		if err != nil {
			return s, err
		}
		s.Ops = append(s.Ops, op)
	}
	return s, nil
}

func parseStage(n *sx) (Stage, error) {
	if len(n.items) < 3 || n.items[1].list {
		return Stage{}, n.errorf("expected (build NAME SPEC)")
	}
	st := Stage{Name: n.items[1].atom}
	if st.Name == "" {
		return st, n.items[1].errorf("the build stage name is empty")
	}
	body := n.items[2]
	if len(n.items) == 3 && body.list && len(body.items) > 0 && body.items[0].list {
		spec, err := parseSpec(body)
		st.Spec = spec
		return st, err
	}
	// The unwrapped form: the stage's items follow its name.
	inner := &sx{list: true, items: n.items[2:], line: body.line, col: body.col, eline: n.eline, ecol: n.ecol}
	spec, err := parseSpec(inner)
	st.Spec = spec
	return st, err
}

// args returns the atoms after a list's head, or an error naming the
// expected form.
func args(n *sx, min, max int, form string) ([]string, error) {
	rest := n.items[1:]
	if len(rest) < min || (max >= 0 && len(rest) > max) {
		return nil, n.errorf("expected %s", form)
	}
	out := make([]string, 0, len(rest))
	for _, a := range rest {
		if a.list {
			return nil, a.errorf("expected %s, found %s inside it", form, a.describe())
		}
		out = append(out, a.atom)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func parseOp(n *sx, stages map[string]bool) (Op, error) {
	switch n.head() {
	case "comment":
		a, err := args(n, 1, 1, "(comment TEXT)")
		if err != nil {
			return nil, err
		}
		return &Comment{Text: a[0]}, nil
	case "workdir":
		a, err := args(n, 1, 1, "(workdir DIR)")
		if err != nil {
			return nil, err
		}
		if a[0] == "" {
			return nil, n.items[1].errorf("the workdir is empty")
		}
		return &Workdir{Dir: a[0]}, nil
	case "shell":
		a, err := args(n, 1, -1, "(shell PROGRAM ARG...)")
		if err != nil {
			return nil, err
		}
		if a[0] == "" {
			return nil, n.items[1].errorf("the shell program is empty")
		}
		return &Shell{Args: a}, nil
	case "env":
		a, err := args(n, 2, 2, "(env NAME VALUE)")
		if err != nil {
			return nil, err
		}
		if a[0] == "" || strings.ContainsRune(a[0], '=') {
			return nil, n.items[1].errorf("environment variable name %s must be non-empty and contain no =", quoteAtom(a[0]))
		}
		return &Env{Name: a[0], Value: a[1]}, nil
	case "user":
		return parseUser(n)
	case "run":
		return parseRun(n)
	case "copy":
		return parseCopy(n, stages)
	case "from":
		return nil, n.errorf("a spec has one (from IMAGE), before its operations")
	case "build":
		return nil, n.errorf("(build NAME SPEC) stages must come before (from IMAGE)")
	case "":
		return nil, n.errorf("expected an operation (%s), found %s", opNames, n.describe())
	}
	return nil, n.items[0].errorf("unknown operation %s: expected one of %s", quoteAtom(n.head()), opNames)
}

// eachField calls f with every (NAME ...) item after a record's head,
// where expected describes the fields it accepts.
func eachField(n *sx, expected string, f func(name string, it *sx) error) error {
	for _, it := range n.items[1:] {
		if it.head() == "" {
			return it.errorf("expected %s, found %s", expected, it.describe())
		}
		if err := f(it.head(), it); err != nil {
			return err
		}
	}
	return nil
}

func parseUser(n *sx) (Op, error) {
	var u User
	seen := map[string]bool{}
	const expected = "(uid N) or (gid N) in (user ...)"
	err := eachField(n, expected, func(name string, it *sx) error {
		switch name {
		case "uid", "gid":
		case "name":
			return it.errorf("users by name are not supported: use (user (uid N) (gid N))")
		default:
			return it.errorf("expected %s, found %s", expected, it.describe())
		}
		if seen[name] {
			return it.errorf("a second (%s ...) in (user ...)", name)
		}
		seen[name] = true
		a, err := args(it, 1, 1, "("+name+" N)")
		if err != nil {
			return err
		}
		v, err := strconv.ParseUint(a[0], 10, 32)
		if err != nil {
			return it.items[1].errorf("%s %s is not a number from 0 to 4294967295", name, quoteAtom(a[0]))
		}
		if name == "uid" {
			u.UID = uint32(v)
		} else {
			u.GID = uint32(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"uid", "gid"} {
		if !seen[name] {
			return nil, n.endErrorf("expected (%s N) in (user ...)", name)
		}
	}
	return &u, nil
}

// parseMounts reads the (ID (target PATH)) entries of a cache or secrets
// field.
func parseMounts(it *sx, what string, ids, targets map[string]bool) ([]Mount, error) {
	var ms []Mount
	for _, m := range it.items[1:] {
		if !m.list || len(m.items) == 0 || m.items[0].list {
			return nil, m.errorf("expected (ID (target PATH)) in a %s mount, found %s", what, m.describe())
		}
		if len(m.items) != 2 {
			return nil, m.errorf("expected (ID (target PATH)) in a %s mount", what)
		}
		t := m.items[1]
		if t.head() != "target" || len(t.items) != 2 || t.items[1].list {
			return nil, t.errorf("expected (target PATH) in a %s mount", what)
		}
		mt := Mount{ID: m.items[0].atom, Target: t.items[1].atom}
		if mt.ID == "" {
			return nil, m.items[0].errorf("the %s id is empty", what)
		}
		if !path.IsAbs(mt.Target) {
			return nil, t.items[1].errorf("the %s target %s must be an absolute path", what, quoteAtom(mt.Target))
		}
		if ids[mt.ID] {
			return nil, m.items[0].errorf("%s %s is mounted twice in this run", what, quoteAtom(mt.ID))
		}
		if targets[path.Clean(mt.Target)] {
			return nil, t.items[1].errorf("two mounts share the target %s", quoteAtom(mt.Target))
		}
		ids[mt.ID], targets[path.Clean(mt.Target)] = true, true
		ms = append(ms, mt)
	}
	return ms, nil
}

func parseRun(n *sx) (Op, error) {
	var r Run
	haveShell, haveNetwork := false, false
	cacheIDs, secretIDs, targets := map[string]bool{}, map[string]bool{}, map[string]bool{}
	const expected = "(cache ...), (network host), (secrets ...) or (shell COMMAND) in (run ...)"
	err := eachField(n, expected, func(name string, it *sx) error {
		switch name {
		case "shell":
			if haveShell {
				return it.errorf("a second (shell ...) in (run ...)")
			}
			haveShell = true
			a, err := args(it, 1, 1, "(shell COMMAND) in (run ...)")
			if err != nil {
				return err
			}
			r.Shell = a[0]
		case "network":
			if haveNetwork {
				return it.errorf("a second (network ...) in (run ...)")
			}
			haveNetwork = true
			a, err := args(it, 0, 1, "(network host)")
			if err != nil {
				return err
			}
			if len(a) == 1 && a[0] != "host" {
				return it.items[1].errorf("unknown network %s: only (network host) is supported", quoteAtom(a[0]))
			}
			if len(a) == 1 {
				r.Network = "host"
			}
		case "cache":
			ms, err := parseMounts(it, "cache", cacheIDs, targets)
			if err != nil {
				return err
			}
			r.Caches = append(r.Caches, ms...)
		case "secrets":
			ms, err := parseMounts(it, "secret", secretIDs, targets)
			if err != nil {
				return err
			}
			r.Secrets = append(r.Secrets, ms...)
		default:
			return it.errorf("expected %s, found %s", expected, it.describe())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !haveShell {
		return nil, n.endErrorf("expected (shell COMMAND) in (run ...)")
	}
	return &r, nil
}

func parseCopy(n *sx, stages map[string]bool) (Op, error) {
	var c Copy
	seen := map[string]bool{}
	const expected = "(from ...), (src PATH...), (dst PATH) or (exclude NAME...) in (copy ...)"
	err := eachField(n, expected, func(name string, it *sx) error {
		switch name {
		case "from", "src", "dst", "exclude":
		default:
			return it.errorf("expected %s, found %s", expected, it.describe())
		}
		if seen[name] {
			return it.errorf("a second (%s ...) in (copy ...)", name)
		}
		seen[name] = true
		switch name {
		case "from":
			if len(it.items) == 2 && !it.items[1].list && it.items[1].atom == "context" {
				return nil
			}
			b := (*sx)(nil)
			if len(it.items) == 2 {
				b = it.items[1]
			}
			if b == nil || b.head() != "build" || len(b.items) != 2 || b.items[1].list {
				return it.errorf("expected (from (build NAME)) or (from context) in (copy ...)")
			}
			c.From = b.items[1].atom
			if !stages[c.From] {
				return b.items[1].errorf("no build stage named %s before (from IMAGE) in this spec", quoteAtom(c.From))
			}
		case "src":
			a, err := args(it, 1, -1, "(src PATH...) in (copy ...)")
			if err != nil {
				return err
			}
			c.Src = a
		case "dst":
			a, err := args(it, 1, 1, "(dst PATH) in (copy ...)")
			if err != nil {
				return err
			}
			if a[0] == "" {
				return it.items[1].errorf("the copy destination is empty")
			}
			c.Dst = a[0]
		case "exclude":
			a, err := args(it, 0, -1, "(exclude NAME...) in (copy ...)")
			if err != nil {
				return err
			}
			for i, e := range a {
				if _, err := path.Match(e, ""); err != nil || e == "" {
					return it.items[i+1].errorf("exclude pattern %s is not a valid pattern", quoteAtom(e))
				}
			}
			c.Exclude = a
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"src", "dst"} {
		if !seen[name] {
			if name == "src" {
				return nil, n.endErrorf("expected (src PATH...) in (copy ...)")
			}
			return nil, n.endErrorf("expected (dst PATH) in (copy ...)")
		}
	}
	return &c, nil
}
