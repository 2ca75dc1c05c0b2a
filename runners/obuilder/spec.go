package obuilder

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Spec is a parsed OBuilder build specification: named child builds, a
// base image and the operations applied to it in order.
type Spec struct {
	Stages []Stage
	From   string
	Ops    []Op
}

// Stage is a named child build whose result a Copy can take files from.
type Stage struct {
	Name string
	Spec Spec
}

// Op is one operation of a spec: *Comment, *Workdir, *Shell, *Run, *Copy,
// *User or *Env. String gives its S-expression on one line.
type Op interface {
	String() string
	sexp() node
}

// Comment documents the spec; it changes nothing.
type Comment struct{ Text string }

// Workdir sets the directory later operations run in; a relative Dir is
// taken from the current one.
type Workdir struct{ Dir string }

// Shell sets the program (and its leading arguments) that runs the
// commands of later Run operations.
type Shell struct{ Args []string }

// Run runs a shell command and keeps the file system it leaves.
type Run struct {
	Caches  []Mount // persistent directories shared between builds
	Network string  // "" for no network, "host" for the host's
	Secrets []Mount // the job's secrets, mounted read-only at Target
	Shell   string  // the command, given to the current shell
}

// Mount names a cache or a secret by ID and where it appears.
type Mount struct{ ID, Target string }

// Copy copies files from the build context, or from the result of a build
// stage, into the image.
type Copy struct {
	From    string // a build stage's name; "" means the build context
	Src     []string
	Dst     string
	Exclude []string // names (or path patterns) left out at any depth
}

// User sets the user and group later operations run as and own copied
// files.
type User struct{ UID, GID uint32 }

// Env sets an environment variable for later operations.
type Env struct{ Name, Value string }

// node is an S-expression as the printer builds it.
type node struct {
	atom  string
	list  bool
	items []node
}

func atom(s string) node      { return node{atom: s} }
func list(items ...node) node { return node{list: true, items: items} }
func field(name string, vals ...string) node {
	return list(append([]node{atom(name)}, mapAtoms(vals)...)...)
}

func mapAtoms(ss []string) []node {
	out := make([]node, len(ss))
	for i, s := range ss {
		out[i] = atom(s)
	}
	return out
}

func (n node) write(b *strings.Builder) {
	if !n.list {
		b.WriteString(quoteAtom(n.atom))
		return
	}
	b.WriteByte('(')
	for i, it := range n.items {
		if i > 0 {
			b.WriteByte(' ')
		}
		it.write(b)
	}
	b.WriteByte(')')
}

func (n node) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (o *Comment) sexp() node { return field("comment", o.Text) }
func (o *Workdir) sexp() node { return field("workdir", o.Dir) }
func (o *Shell) sexp() node   { return field("shell", o.Args...) }
func (o *Env) sexp() node     { return field("env", o.Name, o.Value) }
func (o *User) sexp() node {
	return list(atom("user"),
		field("uid", strconv.FormatUint(uint64(o.UID), 10)),
		field("gid", strconv.FormatUint(uint64(o.GID), 10)))
}

func mountsSexp(name string, ms []Mount) node {
	items := []node{atom(name)}
	for _, m := range ms {
		items = append(items, list(atom(m.ID), field("target", m.Target)))
	}
	return list(items...)
}

func (o *Run) sexp() node {
	items := []node{atom("run")}
	if len(o.Caches) > 0 {
		items = append(items, mountsSexp("cache", o.Caches))
	}
	if o.Network != "" {
		items = append(items, field("network", o.Network))
	}
	if len(o.Secrets) > 0 {
		items = append(items, mountsSexp("secrets", o.Secrets))
	}
	items = append(items, field("shell", o.Shell))
	return list(items...)
}

func (o *Copy) sexp() node {
	items := []node{atom("copy")}
	if o.From != "" {
		items = append(items, list(atom("from"), field("build", o.From)))
	}
	items = append(items, field("src", o.Src...), field("dst", o.Dst))
	if len(o.Exclude) > 0 {
		items = append(items, field("exclude", o.Exclude...))
	}
	return list(items...)
}

func (o *Comment) String() string { return o.sexp().String() }
func (o *Workdir) String() string { return o.sexp().String() }
func (o *Shell) String() string   { return o.sexp().String() }
func (o *Run) String() string     { return o.sexp().String() }
func (o *Copy) String() string    { return o.sexp().String() }
func (o *User) String() string    { return o.sexp().String() }
func (o *Env) String() string     { return o.sexp().String() }

// String prints the spec in canonical form: one item per line, child
// builds indented. Parse gives back an equal Spec.
func (s Spec) String() string {
	var b strings.Builder
	s.write(&b, "")
	return b.String()
}

func (s Spec) write(b *strings.Builder, indent string) {
	b.WriteByte('(')
	first := true
	sep := func() {
		if !first {
			b.WriteString("\n" + indent + " ")
		}
		first = false
	}
	for _, st := range s.Stages {
		sep()
		b.WriteString("(build ")
		b.WriteString(quoteAtom(st.Name))
		b.WriteString("\n" + indent + "  ")
		st.Spec.write(b, indent+"  ")
		b.WriteByte(')')
	}
	sep()
	field("from", s.From).write(b)
	for _, op := range s.Ops {
		sep()
		op.sexp().write(b)
	}
	b.WriteByte(')')
}

// quoteAtom leaves an atom bare when the lexer would read it back
// unchanged, and quotes it otherwise.
func quoteAtom(s string) string {
	if bareAtom(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			b.WriteString(`\` + pad3(s[i]))
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

func pad3(c byte) string {
	d := strconv.Itoa(int(c))
	return strings.Repeat("0", 3-len(d)) + d
}

func bareAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()";\`, c) >= 0 {
			return false
		}
	}
	return true
}
