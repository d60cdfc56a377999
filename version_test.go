package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "9b66a67c1c8148e077c5976d065df8f853acff16"
	for _, tc := range []struct {
		name string
		set  string
		bi   *debug.BuildInfo
		want string
	}{
		{"set by -ldflags wins", "1.2.0", &debug.BuildInfo{Main: debug.Module{Version: "v1.1.0"}}, "1.2.0"},
		{"no build info", "", nil, "dev"},
		{"go install @version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0"},
		{"checkout: pseudo-version", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "v0.0.0-20261203192041-9b66a67c1c81+dirty"},
			Settings: vcs("vcs.revision", rev, "vcs.modified", "true"),
		}, "v0.0.0-20261203192041-9b66a67c1c81+dirty"},
		{"revision without a module version", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", rev, "vcs.modified", "false"),
		}, "9b66a67c1c81"},
		{"modified revision", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.modified", "true", "vcs.revision", rev),
		}, "9b66a67c1c81-dirty"},
		{"no VCS information", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionOf(tc.set, tc.bi); got != tc.want {
				t.Errorf("versionOf(%q, %+v) = %q, want %q", tc.set, tc.bi, got, tc.want)
			}
		})
	}
}
