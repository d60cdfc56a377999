// Command testsum runs `go test -json ...` and prints what a person needs
// from a long test run: what go test prints without -v, and what it leaves
// out, the tests that did not run.
//
//	testsum [-must-run REGEXP] -- go test -json [flags] [packages]
//
// As the run goes, one line per package as it ends (ok or FAIL and how long
// it took), and the whole output of every test that fails, when it fails.
// At the end, every skipped test, named, with the reason it gave, then one
// last line: "N passed, N failed, N skipped", counting tests and subtests.
//
// It exits 1 when a test fails, when a package fails without a failing test
// (a build error, a panic or a timeout: its output is printed), when go test
// itself fails, or when a skipped test's name matches -must-run (.ci/run
// gives ^TestDocker under CI=true: a CI machine has a Docker engine, and a
// skip there would pass in silence). go test's own stderr passes through.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
)

func main() {
	mustRun := flag.String("must-run", "", "a skipped test whose name matches this regular expression fails the run")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: testsum [-must-run REGEXP] -- go test -json [flags] [packages]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var must *regexp.Regexp
	if *mustRun != "" {
		var err error
		if must, err = regexp.Compile(*mustRun); err != nil {
			fmt.Fprintf(os.Stderr, "testsum: -must-run: %v\n", err)
			os.Exit(2)
		}
	}
	os.Exit(run(flag.Args(), must, os.Stdout))
}

// run runs the go test command line argv and summarizes its output on w.
func run(argv []string, must *regexp.Regexp, w io.Writer) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testsum: %v\n", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testsum: %v\n", err)
		return 1
	}
	s := newSummary(w, must)
	readErr := s.read(stdout)
	waitErr := cmd.Wait()
	code := 0
	if readErr != nil {
		fmt.Fprintf(w, "testsum: reading go test's output: %v\n", readErr)
		code = 1
	}
	if waitErr != nil && s.failed == 0 {
		// No test failed, yet go test did: its reason is on stderr, above.
		fmt.Fprintf(w, "%s: %v\n", strings.Join(argv, " "), waitErr)
	}
	if waitErr != nil {
		code = 1
	}
	if !s.finish() {
		code = 1
	}
	return code
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string // build-output and build-fail
	FailedBuild string // on a package's fail: the import path that did not build
}

type testID struct{ pkg, name string }

// summary follows one go test run.
type summary struct {
	w    io.Writer
	must *regexp.Regexp

	output  map[testID]*strings.Builder // a test's output until it ends
	pkgOut  map[string]*strings.Builder // output outside any test, per package
	build   map[string]*strings.Builder // build errors, per import path
	running map[testID]bool             // tests started and not ended
	failsIn map[string]int              // failed tests per package

	passed, failed, skipped int
	skips                   []string // "pkg TestX: reason"
	mustHaveRun             []string // skipped tests that -must-run names
}

func newSummary(w io.Writer, must *regexp.Regexp) *summary {
	return &summary{
		w: w, must: must,
		output:  map[testID]*strings.Builder{},
		pkgOut:  map[string]*strings.Builder{},
		build:   map[string]*strings.Builder{},
		running: map[testID]bool{},
		failsIn: map[string]int{},
	}
}

// read follows go test's JSON lines on r until it ends. A line that is not
// JSON is passed on as it is.
func (s *summary) read(r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var e event
			if line[0] != '{' || json.Unmarshal(line, &e) != nil {
				s.w.Write(line)
			} else {
				s.event(e)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func appendTo(m map[string]*strings.Builder, k, text string) {
	if m[k] == nil {
		m[k] = &strings.Builder{}
	}
	m[k].WriteString(text)
}

func (s *summary) event(e event) {
	id := testID{e.Package, e.Test}
	switch {
	case e.Action == "build-output":
		appendTo(s.build, e.ImportPath, e.Output)
	case e.Test == "":
		s.packageEvent(e)
	case e.Action == "run":
		s.running[id] = true
	case e.Action == "output":
		if s.output[id] == nil {
			s.output[id] = &strings.Builder{}
		}
		s.output[id].WriteString(e.Output)
	case e.Action == "pass":
		s.passed++
		s.end(id)
	case e.Action == "fail":
		s.fail(id, "")
	case e.Action == "skip":
		s.skipped++
		s.skips = append(s.skips, fmt.Sprintf("%s %s: %s", id.pkg, id.name, s.reason(id)))
		if s.must != nil && s.must.MatchString(id.name) {
			s.mustHaveRun = append(s.mustHaveRun, fmt.Sprintf("%s %s (-must-run %s)", id.pkg, id.name, s.must))
		}
		s.end(id)
	}
}

func (s *summary) end(id testID) {
	delete(s.output, id)
	delete(s.running, id)
}

// fail counts a failed test and prints its output at once.
func (s *summary) fail(id testID, why string) {
	s.failed++
	s.failsIn[id.pkg]++
	fmt.Fprintf(s.w, "=== FAIL %s %s%s\n", id.pkg, id.name, why)
	for _, l := range s.lines(id) {
		fmt.Fprintln(s.w, l)
	}
	s.end(id)
}

// lines is a test's output without test2json's progress lines.
func (s *summary) lines(id testID) []string {
	var out []string
	if b := s.output[id]; b != nil {
		for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			if !strings.HasPrefix(l, "=== ") {
				out = append(out, l)
			}
		}
	}
	return out
}

// reason is what a skipped test said, on one line. A line that another one
// ends with (the same words printed on stderr and given to t.Skip, which
// prefixes file:line) is said once.
func (s *summary) reason(id testID) string {
	var said []string
	for _, l := range s.lines(id) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--- SKIP: ") {
			said = append(said, l)
		}
	}
	var out []string
	for i, l := range said {
		repeated := slices.ContainsFunc(said, func(o string) bool { return len(o) > len(l) && strings.HasSuffix(o, l) })
		if !repeated && !slices.Contains(said[:i], l) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return "no reason given"
	}
	return strings.Join(out, " / ")
}

// packageEvent handles a package's own events: its output, and its end.
func (s *summary) packageEvent(e event) {
	switch e.Action {
	case "output":
		appendTo(s.pkgOut, e.Package, e.Output)
		return
	case "pass", "fail":
	default: // start; skip: no test files
		return
	}
	// Tests still running when their package ends died with the test
	// binary (a panic, a timeout, os.Exit).
	var orphans []testID
	for id := range s.running {
		if id.pkg == e.Package {
			orphans = append(orphans, id)
		}
	}
	slices.SortFunc(orphans, func(a, b testID) int { return strings.Compare(a.name, b.name) })
	for _, id := range orphans {
		s.fail(id, " (no result: the test binary ended while it ran)")
	}
	if e.Action == "pass" {
		fmt.Fprintf(s.w, "ok   %s %.1fs\n", e.Package, e.Elapsed)
	} else {
		if s.failsIn[e.Package] == 0 {
			// Failed without a failing test: show why.
			s.failed++
			if b := s.build[e.FailedBuild]; e.FailedBuild != "" && b != nil {
				fmt.Fprint(s.w, b.String())
			}
			if b := s.pkgOut[e.Package]; b != nil {
				for _, l := range strings.SplitAfter(b.String(), "\n") {
					if !isStatusLine(l) {
						fmt.Fprint(s.w, l)
					}
				}
			}
		}
		fmt.Fprintf(s.w, "FAIL %s %.1fs\n", e.Package, e.Elapsed)
	}
	delete(s.pkgOut, e.Package)
}

// isStatusLine reports whether l is one of go test's own lines about the
// package's result, which the FAIL line that follows says again.
func isStatusLine(l string) bool {
	l = strings.TrimRight(l, "\n")
	return l == "PASS" || l == "FAIL" || strings.HasPrefix(l, "FAIL\t") || strings.HasPrefix(l, "ok  \t")
}

// finish prints the skipped tests and the summary line, and reports whether
// the run may pass as far as the tests are concerned.
func (s *summary) finish() bool {
	for _, l := range s.skips {
		fmt.Fprintf(s.w, "skipped: %s\n", l)
	}
	for _, l := range s.mustHaveRun {
		fmt.Fprintf(s.w, "must run, but skipped: %s\n", l)
	}
	fmt.Fprintf(s.w, "%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
	return s.failed == 0 && len(s.mustHaveRun) == 0
}
