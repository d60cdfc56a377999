//go:build linux

package workers

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAutoCount(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		affinity int
		want     int
	}{
		{"no cgroup files", nil, 4, 4},
		{"v2 quota 1.5 CPUs rounds up", map[string]string{
			"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "150000 100000\n"}, 8, 2},
		{"v2 no quota", map[string]string{
			"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "max 100000\n"}, 3, 3},
		{"v2 quota above affinity", map[string]string{
			"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "800000 100000\n"}, 2, 2},
		{"v2 nested cgroup path", map[string]string{
			"proc/self/cgroup":                    "0::/kubepods/pod1\n",
			"sys/fs/cgroup/kubepods/pod1/cpu.max": "50000 100000\n"}, 4, 1},
		{"v1 quota", map[string]string{
			"proc/self/cgroup":                            "4:cpu,cpuacct:/docker/abc\n",
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  "300000\n",
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, 8, 3},
		{"v1 unlimited", map[string]string{
			"proc/self/cgroup":                    "4:cpu:/\n",
			"sys/fs/cgroup/cpu/cpu.cfs_quota_us":  "-1\n",
			"sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, 2, 2},
		{"tiny quota is at least one", map[string]string{
			"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "1000 100000\n"}, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.files {
				path := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := autoCount(root, tt.affinity); got != tt.want {
				t.Errorf("autoCount = %d, want %d", got, tt.want)
			}
		})
	}
}
