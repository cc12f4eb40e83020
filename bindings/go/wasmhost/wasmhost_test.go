package wasmhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// guest is a module the Makefile builds, e.g. guest(t, "c/hello").
func guest(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "..", "guests", "build", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func newHost(t *testing.T) *Host {
	t.Helper()
	t.Setenv("WASMHOST_CACHE_DIR", t.TempDir())
	host, err := NewHost(&HostOptions{DiscardDefault: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	return host
}

func load(t *testing.T, host *Host, name string) *Module {
	t.Helper()
	module, err := host.LoadFile(guest(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { module.Close() })
	return module
}

func decode(t *testing.T, lines [][]byte) []map[string]any {
	t.Helper()
	var records []map[string]any
	for _, line := range lines {
		if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("not one JSON line: %q", line)
		}
		var record map[string]any
		if err := json.Unmarshal(line, &record); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		records = append(records, record)
	}
	return records
}

func TestRunCapturesStdoutAndDeliversEveryRecordOnce(t *testing.T) {
	host := newHost(t)
	upper := load(t, host, "c/upper")
	var lines [][]byte
	res, err := upper.Run(context.Background(), RunOptions{
		Stdin:       []byte("request body"),
		Labels:      map[string]string{"job": "go", "route": "/upper"},
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		Records:     func(line []byte) { lines = append(lines, line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Outcome != "exit" || string(res.Stdout) != "REQUEST BODY" {
		t.Fatalf("%+v", res)
	}
	records := decode(t, lines)
	want := GoroutineID()
	events := []string{}
	for i, r := range records {
		if r["wasm_instance_id"] != res.InstanceID || r["job"] != "go" || r["route"] != "/upper" || r["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("record %d: %v", i, r)
		}
		if r["goroutine_id"] != strconv.FormatUint(want, 10) {
			t.Errorf("goroutine_id %v, want %d", r["goroutine_id"], want)
		}
		if r["seq"] != float64(i+1) {
			t.Errorf("seq %v at %d: every record once, in order", r["seq"], i)
		}
		event, _ := r["event"].(string)
		events = append(events, event)
	}
	if len(events) != 3 || events[0] != "instance.start" || events[1] != "" || events[2] != "instance.exit" {
		t.Fatalf("events %q", events)
	}
	if records[1]["msg"] != "handled 12 bytes" {
		t.Fatalf("%v", records[1])
	}
}

func TestTheDeadlineStopsASpinningGuestWithTheTimeoutEvent(t *testing.T) {
	host := newHost(t)
	spin := load(t, host, "c/spin")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	started := time.Now()
	res, err := spin.Run(ctx, RunOptions{Records: &out})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(started); elapsed > 5*time.Second {
		t.Fatalf("took %v", elapsed)
	}
	if res.Outcome != "timeout" || res.ExitCode != 134 {
		t.Fatalf("%+v", res)
	}
	if !bytes.Contains(out.Bytes(), []byte(`"event":"instance.timeout"`)) {
		t.Fatalf("no timeout event in %s", out.Bytes())
	}
	// A context that is already done does not run at all.
	if _, err := spin.Run(ctx, RunOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

func TestCancellingTheContextStopsTheGuestWithTheStoppedEvent(t *testing.T) {
	host := newHost(t)
	// spin runs wasm (stopped at an epoch tick), sleep blocks in
	// poll_oneoff for a minute (stopped in the host call).
	for _, name := range []string{"c/spin", "c/sleep"} {
		module := load(t, host, name)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		var lines [][]byte
		started := time.Now()
		res, err := module.Run(ctx, RunOptions{Args: []string{"60000"}, Records: func(l []byte) { lines = append(lines, l) }})
		if !errors.Is(err, context.Canceled) || res == nil {
			t.Fatalf("%s: %+v %v", name, res, err)
		}
		if elapsed := time.Since(started); elapsed > 5*time.Second {
			t.Fatalf("%s: took %v", name, elapsed)
		}
		if res.Outcome != "stopped" || res.ExitCode != 134 {
			t.Fatalf("%s: %+v", name, res)
		}
		records := decode(t, lines)
		n := len(records)
		if n < 3 || records[n-2]["event"] != "instance.stopped" || records[n-2]["msg"] != "stopped: the run was cancelled" ||
			records[n-1]["event"] != "instance.exit" || records[n-1]["exit_code"] != float64(134) {
			t.Fatalf("%s: the last records are not instance.stopped, instance.exit: %v", name, records)
		}
		for i, r := range records {
			if r["seq"] != float64(i+1) || r["wasm_instance_id"] != res.InstanceID {
				t.Fatalf("%s: record %d: %v", name, i, r)
			}
		}
	}
}

func TestCancellingOneRunLeavesTheOthers(t *testing.T) {
	host := newHost(t)
	sleep := load(t, host, "c/sleep")
	ctx, cancel := context.WithCancel(context.Background())
	other := make(chan *Result, 1)
	go func() {
		res, err := sleep.Run(context.Background(), RunOptions{Args: []string{"700"}})
		if err != nil {
			t.Error(err)
		}
		other <- res
	}()
	time.AfterFunc(200*time.Millisecond, cancel)
	res, err := sleep.Run(ctx, RunOptions{Args: []string{"60000"}})
	if !errors.Is(err, context.Canceled) || res.Outcome != "stopped" {
		t.Fatalf("%+v %v", res, err)
	}
	if res := <-other; res == nil || res.Outcome != "exit" || res.ExitCode != 0 {
		t.Fatalf("the other run: %+v", res)
	}
}

func TestManyGoroutinesAtOnce(t *testing.T) {
	host := newHost(t)
	logger := load(t, host, "c/logger")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				var lines [][]byte
				res, err := logger.Run(context.Background(), RunOptions{Args: []string{"20"}, Records: func(l []byte) { lines = append(lines, l) }})
				if err != nil {
					errs <- err
					return
				}
				mine := GoroutineID()
				for _, r := range decode(t, lines) {
					if r["wasm_instance_id"] != res.InstanceID || r["goroutine_id"] != strconv.FormatUint(mine, 10) {
						errs <- errors.New("a record of another run or goroutine")
						return
					}
				}
				if len(lines) != 22 || res.ExitCode != 0 {
					errs <- errors.New("wrong record count " + strconv.Itoa(len(lines)))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestErrorsNotCrashes(t *testing.T) {
	host := newHost(t)
	hello := load(t, host, "c/hello")
	var e *Error
	if _, err := host.LoadFile("/nonexistent.wasm"); !errors.As(err, &e) || e.Status != "load" {
		t.Fatalf("%v", err)
	}
	if _, err := host.LoadBytes("junk", []byte("junk")); !errors.As(err, &e) || e.Status != "load" {
		t.Fatalf("%v", err)
	}
	if _, err := hello.Run(context.Background(), RunOptions{Args: []string{"\xff"}}); !errors.As(err, &e) || e.Status != "invalid_utf8" {
		t.Fatalf("%v", err)
	}
	if _, err := hello.Run(context.Background(), RunOptions{Labels: map[string]string{"lang": "cobol"}}); !errors.As(err, &e) || e.Status != "run" {
		t.Fatalf("%v", err)
	}
	if _, err := hello.Run(context.Background(), RunOptions{Records: 42}); err == nil {
		t.Fatal("a Records of the wrong type is refused")
	}
	hello.Close()
	if _, err := hello.Run(context.Background(), RunOptions{}); !errors.As(err, &e) || e.Status != "invalid_handle" {
		t.Fatalf("%v", err)
	}
	runtime.GC()
}

// records runs module and returns its records, decoded.
func records(t *testing.T, ctx context.Context, module *Module, opts RunOptions) (*Result, []map[string]any, [][]byte) {
	t.Helper()
	var lines [][]byte
	opts.Records = func(l []byte) { lines = append(lines, l) }
	res, err := module.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res, decode(t, lines), lines
}

func eventOf(t *testing.T, records []map[string]any, name string) map[string]any {
	t.Helper()
	for _, r := range records {
		if r["event"] == name {
			return r
		}
	}
	t.Fatalf("no %s in %v", name, records)
	return nil
}

func TestTheCompileCacheServesTheSecondLoad(t *testing.T) {
	host := newHost(t) // a fresh WASMHOST_CACHE_DIR
	for _, want := range []string{"compiled", "cache"} {
		_, recs, _ := records(t, context.Background(), load(t, host, "c/exit"), RunOptions{})
		if start := eventOf(t, recs, "instance.start"); start["compile"] != want || start["compile_ms"] == nil {
			t.Fatalf("compile %v, want %s: %v", start["compile"], want, start)
		}
	}
	uncached, err := NewHost(&HostOptions{DiscardDefault: true, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer uncached.Close()
	_, recs, _ := records(t, context.Background(), load(t, uncached, "c/exit"), RunOptions{})
	if start := eventOf(t, recs, "instance.start"); start["compile"] != "uncached" {
		t.Fatalf("%v", start)
	}
}

func TestLimitsStopTheGuestWithTheirEvents(t *testing.T) {
	t.Setenv("WASMHOST_CACHE_DIR", t.TempDir())
	host, err := NewHost(&HostOptions{DiscardDefault: true, Fuel: true})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	spin, grow := load(t, host, "c/spin"), load(t, host, "c/grow")

	res, recs, _ := records(t, context.Background(), spin, RunOptions{Fuel: 2000000})
	if res.Outcome != "out_of_fuel" || res.ExitCode != 134 {
		t.Fatalf("%+v", res)
	}
	if e := eventOf(t, recs, "instance.out_of_fuel"); e["fuel_limit"] != float64(2000000) {
		t.Fatalf("%v", e)
	}
	if e := eventOf(t, recs, "instance.exit"); e["fuel_used"] == nil || e["exit_code"] != float64(134) {
		t.Fatalf("%v", e)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, recs, _ = records(t, ctx, spin, RunOptions{})
	if res.Outcome != "timeout" || eventOf(t, recs, "instance.timeout")["timeout_ms"] == nil {
		t.Fatalf("%+v %v", res, recs)
	}

	// 64 MiB asked for, 8 MiB allowed: growth is refused, malloc fails, exit 3.
	res, recs, _ = records(t, context.Background(), grow, RunOptions{Args: []string{"64"}, MaxMemory: 8 << 20})
	if res.Outcome != "exit" || res.ExitCode != 3 {
		t.Fatalf("%+v", res)
	}
	if e := eventOf(t, recs, "instance.memory_limit"); e["limit"] != float64(8<<20) || e["level"] != "warn" {
		t.Fatalf("%v", e)
	}
	if start := eventOf(t, recs, "instance.start"); start["max_memory"] != float64(8<<20) || start["fuel_limit"] != nil {
		t.Fatalf("%v", start)
	}

	// Fuel needs a host that meters it: an error, before anything runs.
	plain := newHost(t)
	var e *Error
	if _, err := load(t, plain, "c/spin").Run(context.Background(), RunOptions{Fuel: 1000}); !errors.As(err, &e) || e.Status != "run" {
		t.Fatalf("%v", err)
	}
}

func TestAHostFromARoutingConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("WASMHOST_CACHE_DIR", filepath.Join(dir, "cache"))
	all, traps := filepath.Join(dir, "all.log"), filepath.Join(dir, "traps.log")
	config := filepath.Join(dir, "routes.toml")
	toml := `default_sinks = ["all"]
[sinks.all]
type = "file"
path = "` + all + `"
[sinks.traps]
type = "file"
path = "` + traps + `"
[[routes]]
match = '{event="instance.trap"}'
sinks = ["traps", "all"]
[lift]
prefix = "g_"
`
	if err := os.WriteFile(config, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewHost(&HostOptions{ConfigPath: filepath.Join(dir, "missing.toml")}); err == nil {
		t.Fatal("a missing config is an error")
	}
	host, err := NewHost(&HostOptions{ConfigPath: config, DiscardDefault: true})
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, run := range []struct {
		guest string
		args  []string
	}{{"c/trap", nil}, {"c/formats", []string{"json"}}} {
		module, err := host.LoadFile(guest(t, run.guest))
		if err != nil {
			t.Fatal(err)
		}
		_, _, got := records(t, context.Background(), module, RunOptions{Args: run.args, Labels: map[string]string{"job": "routed"}})
		lines = append(lines, got...)
		module.Close()
	}
	host.Close() // the last handle: the sinks are flushed
	if got := readFile(t, all); got != string(bytes.Join(lines, nil)) {
		t.Fatalf("the all sink has:\n%s\nthe callbacks had:\n%s", got, bytes.Join(lines, nil))
	}
	text := readFile(t, traps)
	if strings.Count(text, "\n") != 1 {
		t.Fatalf("the traps sink has %q: one line expected", text)
	}
	routed := decode(t, [][]byte{[]byte(text)})
	if routed[0]["event"] != "instance.trap" || routed[0]["job"] != "routed" {
		t.Fatalf("the traps sink has %s", readFile(t, traps))
	}
	lifted := false
	for _, r := range decode(t, lines) {
		for k := range r {
			lifted = lifted || (strings.HasPrefix(k, "g_") && r["lifted"] == "json")
		}
	}
	if !lifted {
		t.Fatalf("[lift] prefix not applied: %s", bytes.Join(lines, nil))
	}
}
