package ocisuite

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Summary is what one program's TAP output says. The v0.9.0 programs print
// TAP version 13 with tap-go: points at column 0 ("ok 3 - desc", "not ok
// 4 - desc", "ok 5 # SKIP why", "not ok 6 # TODO why"), a plan ("1..N")
// first or last, and YAML diagnostic blocks indented by two spaces between
// "---" and "..." (their bodies are JSON). Output of a nested runtimetest
// only ever appears inside such a block, so it is never counted.
type Summary struct {
	// Plan is N of the plan line "1..N", or -1 when there is none.
	Plan int
	// Points counts test points; Pass, Skip, Fail and Todo split them:
	// Pass is "ok" without a directive, Skip "ok # SKIP", Fail "not ok"
	// without a directive, Todo "not ok # TODO" (and "ok # TODO"), which
	// TAP does not count as failures.
	Points, Pass, Skip, Fail, Todo int
	// Failed holds the failing points' lines ("not ok 4 - desc").
	Failed []string
	// BailOut is the reason of a "Bail out!" line ("" when none; a bail
	// out without reason is recorded as "Bail out!").
	BailOut string
	// Errors holds the "error" members of diagnostic blocks printed before
	// the first point: the lifecycle programs (hooks, prestart, ...) print
	// their only result that way when the runtime fails them.
	Errors []string
	// Diagnostics counts YAML blocks.
	Diagnostics int
}

// OK returns the number of points that did not fail (passed, skipped or
// TODO), the figure "N of M TAP points" compares.
func (s *Summary) OK() int { return s.Points - s.Fail }

var pointRE = regexp.MustCompile(`^(not )?ok\b\s*(\d+)?\s*(.*)$`)

// ParseTAP reads TAP output. It never fails on malformed lines (they are
// ignored, as TAP consumers must); an error comes only from r.
func ParseTAP(r io.Reader) (Summary, error) {
	s := Summary{Plan: -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20) // a block's line can hold a whole nested TAP stream
	var block *bytes.Buffer
	for sc.Scan() {
		line := sc.Text()
		if block != nil {
			if strings.TrimSpace(line) == "..." {
				s.diagnostic(block.Bytes())
				block = nil
			} else {
				block.WriteString(line)
				block.WriteByte('\n')
			}
			continue
		}
		s.line(line, &block)
	}
	if block != nil { // unterminated: still a diagnostic
		s.diagnostic(block.Bytes())
	}
	return s, sc.Err()
}

func (s *Summary) line(line string, block **bytes.Buffer) {
	switch {
	case strings.TrimSpace(line) == "---" && strings.HasPrefix(line, " "):
		*block = &bytes.Buffer{}
	case strings.HasPrefix(line, "Bail out!"):
		s.BailOut = strings.TrimSpace(strings.TrimPrefix(line, "Bail out!"))
		if s.BailOut == "" {
			s.BailOut = "Bail out!"
		}
	case strings.HasPrefix(line, "1.."):
		plan, _, _ := strings.Cut(line[3:], " ")
		if n, err := strconv.Atoi(strings.TrimSpace(plan)); err == nil && n >= 0 {
			s.Plan = n
		}
	case strings.HasPrefix(line, "ok") || strings.HasPrefix(line, "not ok"):
		if m := pointRE.FindStringSubmatch(line); m != nil {
			s.point(m[1] == "", directive(m[3]), line)
		}
	}
}

// directive returns "SKIP", "TODO" or "" for a point's description.
func directive(desc string) string {
	_, d, ok := strings.Cut(desc, "#")
	if !ok {
		return ""
	}
	d = strings.ToUpper(strings.TrimSpace(d))
	switch {
	case strings.HasPrefix(d, "SKIP"):
		return "SKIP"
	case strings.HasPrefix(d, "TODO"):
		return "TODO"
	}
	return ""
}

func (s *Summary) point(ok bool, dir, line string) {
	s.Points++
	switch {
	case dir == "TODO":
		s.Todo++
	case !ok:
		s.Fail++
		s.Failed = append(s.Failed, line)
	case dir == "SKIP":
		s.Skip++
	default:
		s.Pass++
	}
}

func (s *Summary) diagnostic(body []byte) {
	s.Diagnostics++
	if s.Points > 0 {
		return
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return
	}
	if e, ok := m["error"].(string); ok {
		s.Errors = append(s.Errors, e)
	}
}

// Problem says why a program whose TAP is s and whose exit status is code
// did not pass, or returns "" when it passed: exit status 0, no bail out,
// no failing point, as many points as the plan announced, no error
// diagnostic in place of points, and some TAP at all. A program that
// printed nothing did not pass: util.RuntimeInsideValidate ignores the
// container's exit status and stderr, so a runtimetest that crashed
// leaves no output and exit status 0. Programs that report through their
// exit status only (process_rlimits_fail, ...) are judged by
// SilentProblem.
func (s *Summary) Problem(code int) string {
	if p := s.SilentProblem(code); p != "" {
		return p
	}
	if s.Plan < 0 && s.Points == 0 && s.Diagnostics == 0 {
		return "no TAP output"
	}
	return ""
}

// SilentProblem is Problem for a program that may print no TAP at all:
// only what it printed, if anything, and its exit status count.
func (s *Summary) SilentProblem(code int) string {
	switch {
	case code != 0:
		return fmt.Sprintf("exit status %d", code)
	case s.BailOut != "":
		return "bail out: " + s.BailOut
	case s.Fail > 0:
		return fmt.Sprintf("%d of %d points not ok, first: %s", s.Fail, s.Points, s.Failed[0])
	case s.Plan >= 0 && s.Plan != s.Points:
		return fmt.Sprintf("plan 1..%d but %d points", s.Plan, s.Points)
	case s.Points == 0 && len(s.Errors) > 0:
		return "no points; error: " + firstLine(s.Errors[0])
	}
	return ""
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
