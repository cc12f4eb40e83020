package wasmhost

// The sidecar transport, and the three modes compared: this file runs in
// both builds (`go test` links the static library, `-tags wasmhost_shared`
// the shared one), and each time compares the linked library's records
// with a `wasmhost serve` sidecar's for the same runs, so all three are
// shown to give the same records.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sidecar is a running `wasmhost serve` on guests/build/c.
type sidecar struct {
	url string
	log string
}

// startSidecar starts $WASMHOST_BIN serve (the Makefile sets it) on the C
// guests, logging to a file, and stops it with SIGTERM at the end.
func startSidecar(t *testing.T) *sidecar {
	t.Helper()
	bin := os.Getenv("WASMHOST_BIN")
	if bin == "" {
		t.Fatal("WASMHOST_BIN is not set: run `make go-test`, or set it to target/release/wasmhost")
	}
	log := filepath.Join(t.TempDir(), "records.log")
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--modules", filepath.Dir(guest(t, "c/hello")), "--log-file", log, "--timeout", "30s")
	cmd.Env = append(os.Environ(), "WASMHOST_CACHE_DIR="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(stderr).ReadString('\n')
	addr, ok := strings.CutPrefix(line, "wasmhost serve: listening on ")
	if err != nil || !ok {
		t.Fatalf("wasmhost serve said %q (%v)", line, err)
	}
	return &sidecar{url: "http://" + strings.Fields(addr)[0], log: log}
}

// records are the sidecar's records of one instance, once its
// instance.exit is in the log file (the sidecar writes asynchronously).
func (s *sidecar) records(t *testing.T, instanceID string) []map[string]any {
	t.Helper()
	return decode(t, s.lines(t, instanceID))
}

// lines are the log file's lines of one instance, as the sidecar wrote them.
func (s *sidecar) lines(t *testing.T, instanceID string) [][]byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(s.log)
		var lines [][]byte
		for _, line := range strings.SplitAfter(string(data), "\n") {
			if strings.Contains(line, `"wasm_instance_id":"`+instanceID+`"`) {
				lines = append(lines, []byte(line))
			}
		}
		if n := len(lines); n > 0 && strings.Contains(string(lines[n-1]), `"event":"instance.exit"`) {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("no instance.exit of %s in the sidecar's log: %s", instanceID, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTheSidecarTransportHasTheSameAPI(t *testing.T) {
	server := startSidecar(t)
	host, err := Dial(server.url)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	upper, err := host.LoadFile(guest(t, "c/upper"))
	if err != nil || upper.Name != "upper" {
		t.Fatalf("%v %v", upper, err)
	}
	res, err := upper.Run(context.Background(), RunOptions{Stdin: []byte("request body"), Labels: map[string]string{"job": "go"}})
	if err != nil || res.ExitCode != 0 || res.Outcome != "exit" || string(res.Stdout) != "REQUEST BODY" || res.InstanceID == "" {
		t.Fatalf("%+v %v", res, err)
	}
	for _, r := range server.records(t, res.InstanceID) {
		if r["job"] != "go" || r["goroutine_id"] == nil {
			t.Fatalf("labels missing: %v", r)
		}
	}

	// Errors read as in-process.
	var e *Error
	missing, _ := host.LoadFile("/elsewhere/nope.wasm")
	if _, err := missing.Run(context.Background(), RunOptions{}); !errors.As(err, &e) || e.Status != "load" {
		t.Fatalf("%v", err)
	}
	if _, err := upper.Run(context.Background(), RunOptions{Labels: map[string]string{"lang": "cobol"}}); !errors.As(err, &e) || e.Status != "run" {
		t.Fatalf("%v", err)
	}
	if _, err := upper.Run(context.Background(), RunOptions{Args: []string{"\xff"}}); !errors.As(err, &e) || e.Status != "invalid_utf8" {
		t.Fatalf("%v", err)
	}
	// The run's records come back with the answer: the lines the sidecar's
	// own log file has, byte for byte, and the stdout as without them.
	var got bytes.Buffer
	res, err = upper.Run(context.Background(), RunOptions{Stdin: []byte("with\r\n--records"), Records: &got})
	if err != nil || string(res.Stdout) != "WITH\r\n--RECORDS" || res.Outcome != "exit" {
		t.Fatalf("%+v %v", res, err)
	}
	if want := bytes.Join(server.lines(t, res.InstanceID), nil); !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("records with the answer:\n%s\nthe sidecar's log file:\n%s", got.Bytes(), want)
	}
	if _, err := upper.Run(context.Background(), RunOptions{Records: 42}); err == nil {
		t.Fatal("a Records of the wrong type is refused")
	}
	if _, err := host.LoadBytes("x", []byte("(module)")); !errors.As(err, &e) || e.Status != "invalid_argument" {
		t.Fatalf("%v", err)
	}

	// The deadline is the guest's timeout there too.
	spin, _ := host.LoadFile(guest(t, "c/spin"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err = spin.Run(ctx, RunOptions{})
	if err != nil || res.Outcome != "timeout" || res.ExitCode != 134 {
		t.Fatalf("%+v %v", res, err)
	}

	// Cancelling closes the connection, and the sidecar stops the guest.
	sleep, _ := host.LoadFile(guest(t, "c/sleep"))
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	started := time.Now()
	if _, err := sleep.Run(ctx, RunOptions{Args: []string{"60000"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
	for !strings.Contains(readFile(t, server.log), `"msg":"stopped: the run was cancelled"`) {
		if time.Since(started) > 5*time.Second {
			t.Fatalf("the sidecar did not stop the guest: %s", readFile(t, server.log))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// perRun are the fields that differ between two runs of the same guest
// whatever the mode: the time, the instance's UUIDv7, the tokio task
// (another runtime), how long it took, and whether the code was compiled
// or came from the compile cache (each host has its own state). And
// instance.start's timeout_ms: a sidecar always has one (its --timeout,
// shortened by the context's deadline), a linked host only when the
// context has a deadline, counted from the moment of the call.
var perRun = []string{"ts", "wasm_instance_id", "task_id", "duration_ms", "compile", "compile_ms", "cache_error", "timeout_ms"}

func normalize(records []map[string]any) []map[string]any {
	for _, r := range records {
		for _, k := range perRun {
			delete(r, k)
		}
	}
	return records
}

func TestTheLinkedLibraryAndTheSidecarGiveIdenticalRecords(t *testing.T) {
	server := startSidecar(t)
	remote, err := Dial(server.url)
	if err != nil {
		t.Fatal(err)
	}
	local := newHost(t)
	runs := []struct {
		guest string
		opts  RunOptions
	}{
		{"c/upper", RunOptions{Stdin: []byte("request body"), Labels: map[string]string{"job": "gw", "route": "/upper"},
			Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
		{"c/logger", RunOptions{Args: []string{"12"}, Env: map[string]string{"A": "1"}}},
		{"c/formats", RunOptions{}},
		{"c/trap", RunOptions{}},
		{"c/exit", RunOptions{Args: []string{"7"}}},
	}
	for _, run := range runs {
		var lines [][]byte
		opts := run.opts
		opts.Records = func(l []byte) { lines = append(lines, l) }
		mod := load(t, local, run.guest)
		mine, err := mod.Run(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		var far [][]byte
		opts.Records = func(l []byte) { far = append(far, l) }
		remoteModule, _ := remote.LoadFile(guest(t, run.guest))
		theirs, err := remoteModule.Run(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if mine.ExitCode != theirs.ExitCode || mine.Outcome != theirs.Outcome || string(mine.Stdout) != string(theirs.Stdout) {
			t.Errorf("%s: results differ: %+v / %+v", run.guest, mine, theirs)
		}
		// The sidecar transport's records are its log file's lines...
		if logged := server.lines(t, theirs.InstanceID); !reflect.DeepEqual(far, logged) {
			t.Errorf("%s: the sidecar's answer and its log file differ:\n%q\n%q", run.guest, far, logged)
		}
		// ...and the linked library's, but for what differs per run.
		a, b := normalize(decode(t, lines)), normalize(decode(t, far))
		if len(a) < 2 || !reflect.DeepEqual(a, b) {
			ja, _ := json.MarshalIndent(a, "", " ")
			jb, _ := json.MarshalIndent(b, "", " ")
			t.Errorf("%s: records differ:\n%s (%s)\n%s\n(sidecar)", run.guest, ja, linkMode, jb)
		}
	}
}
