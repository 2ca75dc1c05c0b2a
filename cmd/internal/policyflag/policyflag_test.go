package policyflag

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ocluster-go/ocluster/core"
)

func parse(t *testing.T, args ...string) (*Flags, error) {
	t.Helper()
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f := Add(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	_, err := f.Override()
	return f, err
}

func TestOnlyGivenFlagsOverride(t *testing.T) {
	f, err := parse(t, "--lease", "90s", "--trust-prunes", "--cache-limit", "0")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := f.Override()
	if o.MaxAttempts != nil || o.HalfLife != nil || o.CacheAge != nil {
		t.Fatalf("flags not given override: %+v", o)
	}
	if o.Lease == nil || *o.Lease != 90 || o.TrustPrunes == nil || !*o.TrustPrunes || o.CacheLimit == nil || *o.CacheLimit != 0 {
		t.Fatalf("given flags: %+v", o)
	}
}

func TestBadValuesAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--max-attempts", "0"},
		{"--lease", "-1s"},
		{"--cache-limit", "-3"},
		{"--cache-age", "-5m"},
	} {
		if _, err := parse(t, args...); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: got %v, want an error naming the flag", args, err)
		}
	}
}

func TestVariants(t *testing.T) {
	v, err := ParseVariant("combined+lease=0s+max-attempts=1+trust-prunes=false")
	if err != nil {
		t.Fatal(err)
	}
	o := v.Override
	if v.Policy != "combined" || o.Lease == nil || *o.Lease != 0 || o.MaxAttempts == nil || *o.MaxAttempts != 1 ||
		o.TrustPrunes == nil || *o.TrustPrunes || o.HalfLife != nil {
		t.Fatalf("%+v", v)
	}
	if v, err := ParseVariant("ocluster"); err != nil || v.Override != (core.Override{}) {
		t.Fatalf("a plain policy: %+v, %v", v, err)
	}
	for spec, want := range map[string]string{
		"magic":                   `unknown policy "magic": choose one of ocluster, combined,`,
		"combined+lease":          "want SETTING=VALUE",
		"combined+colour=red":     "want SETTING=VALUE with SETTING one of",
		"combined+lease=soon":     "lease",
		"combined+max-attempts=0": "--max-attempts 0",
	} {
		if _, err := ParseVariant(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", spec, err, want)
		}
	}
}

// pflag shows the first backquoted word of a flag's help as its
// placeholder: --policy shows NAME, not a command quoted in the help.
func TestPolicyFlagHelp(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	var policy string
	AddPolicy(fs, &policy, "", "scheduling policy")
	help := fs.FlagUsages()
	if !strings.Contains(help, "--policy NAME ") || !strings.Contains(help, "by NAME: ocluster, combined,") {
		t.Errorf("help is %q", help)
	}
	if err := Known("magic"); err == nil || err.Error() != `unknown policy "magic": choose one of `+strings.Join(names(), ", ")+" (ocluster-sim policies describes them)" {
		t.Errorf("Known: %v", err)
	}
}
