package scenario

import (
	"strings"
	"testing"
)

func TestScriptErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"expectation first", "> capacity: 0\n", "line 1: expected output before any command"},
		{"bad expectation", "pool p\nshow\n>capacity: 0\n", "line 3: an expected output line starts with"},
		{"no pool", "show\n", `line 1: "show" before "pool NAME"`},
		{"two pools", "pool a\npool b\n", "line 2: the pool is already created"},
		{"unknown command", "pool p\nexplode\n", `line 2: unknown command "explode"`},
		{"missing capacity", "pool p\nregister w\n", "line 2: register needs capacity=N"},
		{"bad capacity", "pool p\nregister w capacity=lots\n", `line 2: capacity="lots" is not a whole number`},
		{"unknown option", "pool p\nsubmit c j colour=red\n", "line 2: submit does not take colour="},
		{"unknown flag", "pool p\nsubmit c j soon\n", `line 2: submit: unexpected argument "soon"`},
		{"too few", "pool p\nsubmit c\n", "line 2: submit needs 2 argument(s), got 1"},
		{"bad reason", "pool p\nregister w capacity=1\nactivate w reason=boss\n", `line 3: reason="boss"`},
		{"negative advance", "pool p\nadvance -1\n", "line 2: advance takes a number of seconds"},
		{"advance past any clock", "pool p\nadvance 9e9\nadvance 1e308\n", "line 3: advance 1e308 takes the clock past 1e+10 seconds"},
		{"bad costs", "pool p\ncosts 2 x\n", "line 2: costs takes two numbers"},
		{"negative costs", "pool p\ncosts -2 10\n", "line 2: invalid costs"},
		{"policy after pool", "pool p\npolicy combined\n", "line 2: policy comes before"},
		{"unknown policy", "policy magic\npool p\n", `line 2: unknown policy "magic": choose one of ocluster,`},
		{"unknown setting", "policy combined colour=red\npool p\n", "line 1: policy does not take colour="},
		{"bad seconds", "policy combined lease=soon\npool p\n", `line 1: lease="soon" is not a number of seconds`},
		{"bad whole number", "policy combined max-attempts=2.5\npool p\n", `line 1: max-attempts="2.5" is not a whole number`},
		{"bad boolean", "policy combined steal=maybe\npool p\n", `line 1: steal="maybe" is not true or false`},
		{"setting refused", "policy combined lease=0.5\npool p\n", "line 2: core.New: invalid setting: lease"},
		{"restart setting refused", "pool p\nrestart max-attempts=0\n", "line 2: core.New: invalid setting: max attempts"},
		{"bad pace", "pool p\nregister w capacity=1 pace=0\n", `line 2: pace="0" is not a number greater than 0`},
		{"bad estimate", "pool p\nsubmit c j estimate=-1\n", `line 2: estimate="-1" is not a number of seconds greater than 0`},
		{"bad takes", "pool p\nsubmit c j takes=never\n", `line 2: takes="never" is not a number of seconds`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run("t.scn", tc.src, Options{CheckInvariants: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMismatchIsReportedAsDiff(t *testing.T) {
	src := "pool p\nregister w capacity=1\nforget w\n> ok\n"
	res, err := Run("t.scn", src, Options{CheckInvariants: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Match {
		t.Fatal("a wrong expectation matched")
	}
	for _, want := range []string{"--- t.scn", "+++ t.scn (actual)", "-> ok", "+> still connected"} {
		if !strings.Contains(res.Diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, res.Diff)
		}
	}
	if !strings.HasSuffix(res.Actual, "forget w\n> still connected\n") {
		t.Errorf("actual rendering is wrong:\n%s", res.Actual)
	}
}

func TestTrailingSpacesAreNotSignificant(t *testing.T) {
	// "clients:" with no client prints nothing after the colon; an expected
	// line with a trailing space must still match.
	src := "pool p\nshow\n> capacity: 0\n> queue: (backlog) []\n> registered:\n> disconnected:\n> clients: \n> cached:   \n"
	res, err := Run("t.scn", src, Options{CheckInvariants: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Match {
		t.Fatalf("trailing spaces made a difference:\n%s", res.Diff)
	}
}
