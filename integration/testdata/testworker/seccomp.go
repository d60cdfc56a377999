package main

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// noReuseportBPF execs args under a seccomp filter that answers EPERM to
// setsockopt(SO_ATTACH_REUSEPORT_CBPF) and allows everything else: a kernel
// (or sandbox) that refuses pinit's steering program, for the fallback tests.
func noReuseportBPF(args []string) int {
	if len(args) == 0 {
		logf("usage: testworker no-reuseport-bpf CMD [ARG...]")
		return 2
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		logf("testworker no-reuseport-bpf: %v", err)
		return 127
	}
	// struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6]. The
	// option name is args[2]; its low 32 bits sit at offset 32 (little endian).
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: unix.SYS_SETSOCKOPT},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 32},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SO_ATTACH_REUSEPORT_CBPF},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// The filter binds the thread that installs it; exec from that thread.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		logf("testworker no-reuseport-bpf: no_new_privs: %v", err)
		return 1
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		logf("testworker no-reuseport-bpf: seccomp: %v", err)
		return 1
	}
	err = syscall.Exec(path, args, os.Environ())
	logf("testworker no-reuseport-bpf: exec %s: %v", path, err)
	return 126
}
