package scenario

import (
	"fmt"
	"strings"
)

// diffOp is one line of a diff: kept (' '), only expected ('-') or only
// actual ('+'), with its line numbers (0-based) before it in each file.
type diffOp struct {
	kind byte
	text string
	a, b int
}

// scriptDiff lines the script up with its actual rendering. They differ
// only in the expectation blocks below commands, so each command's block
// is either kept or replaced whole, which takes linear time.
func scriptDiff(s *script, outputs map[*command][]string) []diffOp {
	var ops []diffOp
	a, b := 0, 0
	emit := func(kind byte, text string) {
		ops = append(ops, diffOp{kind, text, a, b})
		if kind != '+' {
			a++
		}
		if kind != '-' {
			b++
		}
	}
	for i := 0; i < len(s.lines); i++ {
		l := s.lines[i]
		emit(' ', l.text)
		c := s.byLine[l.n]
		if c == nil {
			continue
		}
		var expected []string
		for i+1 < len(s.lines) && s.lines[i+1].kind == lineExpect {
			i++
			expected = append(expected, s.lines[i].text)
		}
		out := renderOutput(outputs[c])
		if equalLines(outputs[c], c.expect) {
			for _, text := range expected {
				emit(' ', text)
			}
			continue
		}
		for _, text := range expected {
			emit('-', text)
		}
		for _, text := range out {
			emit('+', text)
		}
	}
	return ops
}

func renderOutput(out []string) []string {
	lines := make([]string, len(out))
	for i, o := range out {
		if o == "" {
			lines[i] = ">"
		} else {
			lines[i] = "> " + o
		}
	}
	return lines
}

// unifiedDiff formats ops as a unified diff with three lines of context.
func unifiedDiff(nameA, nameB string, ops []diffOp) string {
	const context = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(0, k-context)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*context {
				end = min(end+context, len(ops))
				break
			}
			end = run
		}
		countA, countB := 0, 0
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				countA++
			}
			if o.kind != '-' {
				countB++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", ops[start].a+1, countA, ops[start].b+1, countB)
		for _, o := range ops[start:end] {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			out.WriteByte('\n')
		}
		k = end
	}
	return out.String()
}
