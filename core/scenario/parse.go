package scenario

import (
	"fmt"
	"slices"
	"strings"
)

// line is one line of a script.
type line struct {
	n    int    // 1-based
	text string // as written, trailing spaces removed
	kind lineKind
}

type lineKind uint8

const (
	lineOther   lineKind = iota // blank or comment
	lineCommand                 // a command
	lineExpect                  // an expected output line
)

// command is a command line with the output expected below it.
type command struct {
	line   int
	words  []string
	expect []string
}

// script is a parsed scenario.
type script struct {
	lines    []line
	commands []*command
	byLine   map[int]*command
}

func parse(src string) (*script, error) {
	s := &script{byLine: map[int]*command{}}
	var last *command
	for i, text := range strings.Split(strings.TrimSuffix(src, "\n"), "\n") {
		text = strings.TrimRight(text, " \t\r")
		l := line{n: i + 1, text: text}
		trimmed := strings.TrimSpace(text)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			l.kind = lineOther
		case strings.HasPrefix(text, ">"):
			l.kind = lineExpect
			if text != ">" && !strings.HasPrefix(text, "> ") {
				return nil, fmt.Errorf("line %d: an expected output line starts with \"> \" (or is exactly \">\"), got %q", l.n, text)
			}
			if last == nil {
				return nil, fmt.Errorf("line %d: expected output before any command", l.n)
			}
			last.expect = append(last.expect, strings.TrimPrefix(strings.TrimPrefix(text, ">"), " "))
		default:
			l.kind = lineCommand
			last = &command{line: l.n, words: strings.Fields(text)}
			s.commands = append(s.commands, last)
			s.byLine[l.n] = last
		}
		s.lines = append(s.lines, l)
	}
	return s, nil
}

// args splits a command's words after the first few positional ones into
// key=value options and bare flags, refusing any it does not know; a
// variadic command takes any other word as one more positional.
type args struct {
	cmd   string
	line  int
	pos   []string
	opts  map[string]string
	flags map[string]bool
}

func parseArgs(c *command, positional int, variadic bool, keys, flags []string) (*args, error) {
	a := &args{cmd: c.words[0], line: c.line, opts: map[string]string{}, flags: map[string]bool{}}
	rest := c.words[1:]
	if len(rest) < positional {
		return nil, fmt.Errorf("line %d: %s needs %d argument(s), got %d", c.line, a.cmd, positional, len(rest))
	}
	// Clipped, so that a variadic word appended to pos cannot overwrite
	// the command's own words.
	a.pos, rest = slices.Clip(rest[:positional]), rest[positional:]
next:
	for _, w := range rest {
		if k, v, ok := strings.Cut(w, "="); ok {
			for _, known := range keys {
				if k == known {
					if _, dup := a.opts[k]; dup {
						return nil, fmt.Errorf("line %d: %s: %s= given twice", c.line, a.cmd, k)
					}
					a.opts[k] = v
					continue next
				}
			}
			return nil, fmt.Errorf("line %d: %s does not take %s= (it takes %v)", c.line, a.cmd, k, keys)
		}
		for _, known := range flags {
			if w == known {
				a.flags[w] = true
				continue next
			}
		}
		if variadic {
			a.pos = append(a.pos, w)
			continue
		}
		return nil, fmt.Errorf("line %d: %s: unexpected argument %q", c.line, a.cmd, w)
	}
	return a, nil
}
