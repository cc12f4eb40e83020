// Per-call latency of one guest from Go, through the same package API:
// the C API in-process (static or shared, as this binary was built:
// `-tags wasmhost_shared`) or the sidecar (`-sidecar http://127.0.0.1:PORT`,
// wasmhost.Dial: keep-alive HTTP).
// Prints one line: mode, calls, p50, p99, calls/s, RSS and start-up.
// benches/capi-modes.sh runs every mode; figures in BENCHMARKS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"wasmhost.test/bindings/go/wasmhost"
)

func main() {
	module := flag.String("module", "guests/build/c/hello.wasm", "the guest")
	sidecar := flag.String("sidecar", "", "the sidecar's base URL; empty: the C API in-process")
	calls := flag.Int("n", 2000, "calls to time (after 100 warm-up calls)")
	args := flag.String("args", "", "guest arguments, comma-separated")
	flag.Parse()
	var guestArgs []string
	if *args != "" {
		guestArgs = strings.Split(*args, ",")
	}

	started := time.Now()
	mode := linkMode
	// The same API in every mode: only how the host is made differs.
	var host *wasmhost.Host
	var err error
	if *sidecar != "" {
		mode = "sidecar"
		host, err = wasmhost.Dial(*sidecar)
	} else {
		host, err = wasmhost.NewHost(&wasmhost.HostOptions{DiscardDefault: true})
	}
	if err != nil {
		log.Fatal(err)
	}
	m, err := host.LoadFile(*module)
	if err != nil {
		log.Fatal(err)
	}
	call := func() error {
		res, err := m.Run(context.Background(), wasmhost.RunOptions{Args: guestArgs})
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit %d", res.ExitCode)
		}
		return err
	}
	if err := call(); err != nil {
		log.Fatal(err)
	}
	startup := time.Since(started)
	for i := 0; i < 100; i++ {
		if err := call(); err != nil {
			log.Fatal(err)
		}
	}
	times := make([]time.Duration, *calls)
	begin := time.Now()
	for i := range times {
		t := time.Now()
		if err := call(); err != nil {
			log.Fatal(err)
		}
		times[i] = time.Since(t)
	}
	total := time.Since(begin)
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	p := func(q float64) float64 { return float64(times[int(q*float64(len(times)-1))].Microseconds()) }
	fmt.Printf("%-8s %-12s calls=%d p50=%.0fus p99=%.0fus calls/s=%.0f rss=%dMiB startup=%.1fms\n",
		mode, filepath.Base(*module), *calls, p(0.50), p(0.99), float64(*calls)/total.Seconds(), rssMiB(), float64(startup.Microseconds())/1000)
}

// rssMiB is this process's resident set (VmRSS), in MiB.
func rssMiB() int {
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
			return kb / 1024
		}
	}
	return 0
}
