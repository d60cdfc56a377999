//go:build linux

package workers

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// AutoCount is WORKERS=auto: the CPUs available to the container. That is
// the cgroup CPU quota (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us over
// cpu.cfs_period_us) rounded up, at least 1, and never more than the CPUs
// pinit may run on (its affinity mask, which is what runtime.NumCPU reads).
func AutoCount() int {
	return autoCount("/", runtime.NumCPU())
}

// autoCount reads the cgroup files under root (a test passes a fake tree).
func autoCount(root string, affinity int) int {
	n := affinity
	if q, ok := cgroupQuota(root); ok && q < n {
		n = q
	}
	return max(n, 1)
}

// cgroupQuota returns the CPU quota in whole CPUs, rounded up, and whether
// there is one. It looks in the process's own cgroup (as /proc/self/cgroup
// names it) and at the root of the mount, which is where a container without
// a cgroup namespace sees its own cgroup.
func cgroupQuota(root string) (int, bool) {
	v2, v1 := selfCgroups(filepath.Join(root, "proc/self/cgroup"))
	fs := filepath.Join(root, "sys/fs/cgroup")
	for _, dir := range []string{filepath.Join(fs, v2), fs} {
		if data, err := os.ReadFile(filepath.Join(dir, "cpu.max")); err == nil {
			f := strings.Fields(string(data))
			if len(f) == 2 && f[0] != "max" {
				return ceilDiv(f[0], f[1])
			}
			return 0, false
		}
	}
	for _, mount := range []string{"cpu", "cpu,cpuacct", "cpuacct,cpu"} {
		for _, dir := range []string{filepath.Join(fs, mount, v1), filepath.Join(fs, mount)} {
			quota, err1 := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
			period, err2 := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
			if err1 != nil || err2 != nil {
				continue
			}
			q := strings.TrimSpace(string(quota))
			if strings.HasPrefix(q, "-") {
				return 0, false
			}
			return ceilDiv(q, strings.TrimSpace(string(period)))
		}
	}
	return 0, false
}

// selfCgroups returns the process's cgroup v2 path and its v1 cpu controller path.
func selfCgroups(path string) (v2, v1cpu string) {
	f, err := os.Open(path)
	if err != nil {
		return "/", "/"
	}
	defer f.Close()
	v2, v1cpu = "/", "/"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "cpu" {
				v1cpu = parts[2]
			}
		}
	}
	return v2, v1cpu
}

func ceilDiv(quota, period string) (int, bool) {
	q, err1 := strconv.ParseInt(quota, 10, 64)
	p, err2 := strconv.ParseInt(period, 10, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0, false
	}
	return int((q + p - 1) / p), true
}
