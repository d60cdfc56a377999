package main

import (
	"regexp"
	"strings"
	"testing"
)

// stream is go test -json's output for a passing, a failing and a skipping
// test, subtests, a package that did not build and a test binary that timed
// out, as go 1.26 writes it (shortened).
const stream = `{"Action":"start","Package":"ex/a"}
{"Action":"run","Package":"ex/a","Test":"TestPass"}
{"Action":"output","Package":"ex/a","Test":"TestPass","Output":"=== RUN   TestPass\n"}
{"Action":"pass","Package":"ex/a","Test":"TestPass","Elapsed":0}
{"Action":"run","Package":"ex/a","Test":"TestFail"}
{"Action":"output","Package":"ex/a","Test":"TestFail","Output":"=== RUN   TestFail\n"}
{"Action":"output","Package":"ex/a","Test":"TestFail","Output":"    a_test.go:6: boom\n"}
{"Action":"output","Package":"ex/a","Test":"TestFail","Output":"--- FAIL: TestFail (0.00s)\n"}
{"Action":"fail","Package":"ex/a","Test":"TestFail","Elapsed":0}
{"Action":"run","Package":"ex/a","Test":"TestDocker"}
{"Action":"output","Package":"ex/a","Test":"TestDocker","Output":"=== RUN   TestDocker\n"}
{"Action":"output","Package":"ex/a","Test":"TestDocker","Output":"no engine\n"}
{"Action":"output","Package":"ex/a","Test":"TestDocker","Output":"    docker_test.go:58: no engine\n"}
{"Action":"output","Package":"ex/a","Test":"TestDocker","Output":"--- SKIP: TestDocker (0.00s)\n"}
{"Action":"skip","Package":"ex/a","Test":"TestDocker","Elapsed":0}
{"Action":"run","Package":"ex/a","Test":"TestSub"}
{"Action":"run","Package":"ex/a","Test":"TestSub/ok"}
{"Action":"pass","Package":"ex/a","Test":"TestSub/ok","Elapsed":0}
{"Action":"run","Package":"ex/a","Test":"TestSub/later"}
{"Action":"skip","Package":"ex/a","Test":"TestSub/later","Elapsed":0}
{"Action":"pass","Package":"ex/a","Test":"TestSub","Elapsed":0}
{"Action":"output","Package":"ex/a","Output":"FAIL\n"}
{"Action":"fail","Package":"ex/a","Elapsed":0.1}
{"ImportPath":"ex/c [ex/c.test]","Action":"build-output","Output":"c_test.go:5:33: undefined: undefined\n"}
{"ImportPath":"ex/c [ex/c.test]","Action":"build-fail"}
{"Action":"start","Package":"ex/c"}
{"Action":"output","Package":"ex/c","Output":"FAIL\tex/c [build failed]\n"}
{"Action":"fail","Package":"ex/c","Elapsed":0,"FailedBuild":"ex/c [ex/c.test]"}
{"Action":"start","Package":"ex/d"}
{"Action":"run","Package":"ex/d","Test":"TestHang"}
{"Action":"output","Package":"ex/d","Test":"TestHang","Output":"panic: test timed out after 3s\n"}
{"Action":"fail","Package":"ex/d","Elapsed":3}
{"Action":"start","Package":"ex/e"}
{"Action":"run","Package":"ex/e","Test":"TestOK"}
{"Action":"pass","Package":"ex/e","Test":"TestOK","Elapsed":0}
{"Action":"output","Package":"ex/e","Output":"ok  \tex/e\t0.2s\n"}
{"Action":"pass","Package":"ex/e","Elapsed":0.2}
not json: passed on
`

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		name   string
		must   string
		ok     bool
		wantIn []string // lines of the output, in this order
		notIn  []string
	}{
		{"", "", false, []string{
			"=== FAIL ex/a TestFail",
			"    a_test.go:6: boom",
			"--- FAIL: TestFail (0.00s)",
			"FAIL ex/a 0.1s",
			"c_test.go:5:33: undefined: undefined",
			"FAIL ex/c 0.0s",
			"=== FAIL ex/d TestHang (no result: the test binary ended while it ran)",
			"panic: test timed out after 3s",
			"FAIL ex/d 3.0s",
			"ok   ex/e 0.2s",
			"not json: passed on",
			"skipped: ex/a TestDocker: docker_test.go:58: no engine",
			"skipped: ex/a TestSub/later: no reason given",
			"4 passed, 3 failed, 2 skipped",
		}, []string{"=== RUN", "TestPass", "FAIL\tex/c", "must run"}},
		{"must run", "^TestDocker$", false, []string{
			"skipped: ex/a TestDocker: docker_test.go:58: no engine",
			"must run, but skipped: ex/a TestDocker (-must-run ^TestDocker$)",
			"4 passed, 3 failed, 2 skipped",
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			var must *regexp.Regexp
			if tc.must != "" {
				must = regexp.MustCompile(tc.must)
			}
			s := newSummary(&out, must)
			if err := s.read(strings.NewReader(stream)); err != nil {
				t.Fatal(err)
			}
			if ok := s.finish(); ok != tc.ok {
				t.Errorf("finish() = %v, want %v", ok, tc.ok)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			i := 0
			for _, l := range lines {
				if i < len(tc.wantIn) && l == tc.wantIn[i] {
					i++
				}
			}
			if i < len(tc.wantIn) {
				t.Errorf("output lacks %q (after the lines before it in order):\n%s", tc.wantIn[i], out.String())
			}
			if last := lines[len(lines)-1]; last != "4 passed, 3 failed, 2 skipped" {
				t.Errorf("last line %q, want the summary", last)
			}
			for _, s := range tc.notIn {
				if strings.Contains(out.String(), s) {
					t.Errorf("output holds %q:\n%s", s, out.String())
				}
			}
		})
	}
}

// TestSummaryAllPass: a clean run passes, and says so in its one last line.
func TestSummaryAllPass(t *testing.T) {
	var out strings.Builder
	s := newSummary(&out, regexp.MustCompile("^TestDocker"))
	in := `{"Action":"run","Package":"ex/e","Test":"TestDocker"}
{"Action":"pass","Package":"ex/e","Test":"TestDocker","Elapsed":0}
{"Action":"pass","Package":"ex/e","Elapsed":0.2}
`
	if err := s.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if !s.finish() {
		t.Errorf("finish() = false for a passing run")
	}
	if got, want := out.String(), "ok   ex/e 0.2s\n1 passed, 0 failed, 0 skipped\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}
