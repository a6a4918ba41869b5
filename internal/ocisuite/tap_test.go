package ocisuite

import (
	"strings"
	"testing"
)

// Shapes of output the v0.9.0 programs print (see their tap-go calls).
const (
	tapMixed = `TAP version 13
ok 1 - has expected hostname
  ---
  {
    "actual": "h",
    "expected": "h"
  }
  ...
not ok 2 - mounts[0] (/proc) found
ok 3 # SKIP linux.sysctl not set
not ok 4 # TODO we need an (r)bind spec to test against
ok 5 - nested output stays nested
  ---
  {
    "stdout": "TAP version 13\nnot ok 1 - inner\n1..1\n"
  }
  ...
1..5
`
	// A lifecycle program (prestart) whose runtime failed it.
	tapLifecycleError = `TAP version 13
  ---
  {
    "error": "Pre-start hooks MUST be called after the ` + "`start`" + ` operation is called\nRefer to: https://example"
  }
  ...
1..0
`
	tapLifecyclePass = "TAP version 13\n1..0\n"
)

func TestParseTAP(t *testing.T) {
	for _, c := range []struct {
		name, in string
		code     int
		want     Summary
		problem  string
	}{
		{"mixed", tapMixed, 0, Summary{Plan: 5, Points: 5, Pass: 2, Skip: 1, Fail: 1, Todo: 1,
			Failed: []string{"not ok 2 - mounts[0] (/proc) found"}, Diagnostics: 2}, "1 of 5 points not ok, first: not ok 2 - mounts[0] (/proc) found"},
		{"lifecycle error", tapLifecycleError, 0, Summary{Plan: 0, Diagnostics: 1,
			Errors: []string{"Pre-start hooks MUST be called after the `start` operation is called\nRefer to: https://example"}},
			"no points; error: Pre-start hooks MUST be called after the `start` operation is called"},
		{"lifecycle pass", tapLifecyclePass, 0, Summary{Plan: 0}, ""},
		{"silent", "", 0, Summary{Plan: -1}, "no TAP output"},
		{"silent failure", "", 1, Summary{Plan: -1}, "exit status 1"},
		{"short plan", "ok 1\nok 2 - x\n1..3\n", 0, Summary{Plan: 3, Points: 2, Pass: 2}, "plan 1..3 but 2 points"},
		{"plan first", "1..2\nok 1 - a\nok 2 - b\n", 0, Summary{Plan: 2, Points: 2, Pass: 2}, ""},
		{"bail out", "1..2\nok 1\nBail out! no runtime\n", 0, Summary{Plan: 2, Points: 1, Pass: 1, BailOut: "no runtime"}, "bail out: no runtime"},
		{"unterminated block", "ok 1\n  ---\n  {\n", 0, Summary{Plan: -1, Points: 1, Pass: 1, Diagnostics: 1}, ""},
		{"todo passing", "ok 1 # todo later\n1..1\n", 0, Summary{Plan: 1, Points: 1, Todo: 1}, ""},
		{"not a point", "okay\nnot okay\n# ok 1\n1..x\n", 0, Summary{Plan: -1}, "no TAP output"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseTAP(strings.NewReader(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !equalSummary(got, c.want) {
				t.Errorf("ParseTAP\n got %+v\nwant %+v", got, c.want)
			}
			if p := got.Problem(c.code); p != c.problem {
				t.Errorf("Problem(%d) = %q, want %q", c.code, p, c.problem)
			}
			// Silence is the only difference SilentProblem makes.
			want := c.problem
			if want == "no TAP output" {
				want = ""
			}
			if p := got.SilentProblem(c.code); p != want {
				t.Errorf("SilentProblem(%d) = %q, want %q", c.code, p, want)
			}
		})
	}
}

func equalSummary(a, b Summary) bool {
	return a.Plan == b.Plan && a.Points == b.Points && a.Pass == b.Pass && a.Skip == b.Skip &&
		a.Fail == b.Fail && a.Todo == b.Todo && a.BailOut == b.BailOut && a.Diagnostics == b.Diagnostics &&
		strings.Join(a.Failed, "|") == strings.Join(b.Failed, "|") && strings.Join(a.Errors, "|") == strings.Join(b.Errors, "|")
}

// FuzzParseTAP: any input parses; the counts add up and a failing point
// is always a problem.
func FuzzParseTAP(f *testing.F) {
	for _, s := range []string{tapMixed, tapLifecycleError, tapLifecyclePass, "not ok 1\n", "  ---\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseTAP(strings.NewReader(in))
		if err != nil {
			return // a line longer than the scanner's limit
		}
		if s.Pass+s.Skip+s.Fail+s.Todo != s.Points || len(s.Failed) != s.Fail || s.OK() != s.Points-s.Fail {
			t.Fatalf("counts do not add up: %+v", s)
		}
		if s.Fail > 0 && (s.Problem(0) == "" || s.SilentProblem(0) == "") {
			t.Fatalf("%d failing points but no problem", s.Fail)
		}
	})
}

func BenchmarkParseTAP(b *testing.B) {
	in := strings.Repeat(tapMixed[len("TAP version 13\n"):strings.Index(tapMixed, "1..5")], 60) + "1..300\n"
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ParseTAP(strings.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}
