package main

import "runtime/debug"

// version is pinit's version when the build sets it:
// go build -ldflags "-X main.version=1.2.0" (the Dockerfile's VERSION).
// Empty otherwise: buildVersion then reads what Go embedded in the binary.
var version string

// buildVersion is what `pinit --version` prints and "pinit started" logs.
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(version, bi)
}

// versionOf is the version set at build time; else the main module's
// version Go embedded (v1.2.0 from `go install ...@v1.2.0`; from a git
// checkout, a pseudo-version holding the commit, with +dirty when files were
// changed); else the VCS revision; else "dev": a build with no VCS
// information (-buildvcs=false, a tree without .git, or a linked git
// worktree, where go stamps nothing: golang/go#58218).
func versionOf(set string, bi *debug.BuildInfo) string {
	if set != "" {
		return set
	}
	if bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	return rev[:min(12, len(rev))] + dirty
}
