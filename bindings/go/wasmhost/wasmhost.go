// Package wasmhost runs WebAssembly (WASI preview1) guests from Go, with
// every log line of a guest tagged by language, module, instance and task,
// through wasmhost's C API (crates/wasmhost-capi, docs/c-api.md) with cgo.
//
// The library is linked statically by default; build with
// `-tags wasmhost_shared` to load libwasmhost_capi.so instead. Either way
// CGO_LDFLAGS must name the directory of the library
// (-L$CARGO_TARGET_DIR/release/deps), and CGO_ENABLED=1.
//
//	host, err := wasmhost.NewHost(nil)
//	module, err := host.LoadFile("guests/build/c/upper.wasm")
//	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)  // the guest's timeout
//	res, err := module.Run(ctx, wasmhost.RunOptions{Stdin: body, Labels: map[string]string{"job": "gateway"}, Records: os.Stderr})
//	fmt.Printf("%s exited %d: %s", res.InstanceID, res.ExitCode, res.Stdout)
//
// The same API reaches a `wasmhost serve` sidecar over HTTP instead:
// wasmhost.Dial("http://127.0.0.1:8080") (or HostOptions.Sidecar) returns
// a Host whose modules run there; docs/embedding-modes.md compares the
// three ways.
//
// Host and Module are safe for concurrent use by many goroutines.
package wasmhost

/*
#cgo CFLAGS: -I${SRCDIR}/../../../crates/wasmhost-capi/include
#include <stdlib.h>
#include "wasmhost.h"

extern void wasmhostGoRecord(void *user_data, uint8_t *line, size_t len);

// The callback and its handle as the C API takes them (uintptr to void *
// happens here, not in Go, where vet would rightly object).
static WasmhostStatus wasmhost_go_callback(WasmhostRunOptions *o, uintptr_t handle) {
	return wasmhost_run_options_callback(o, (WasmhostRecordFn)wasmhostGoRecord, (void *)handle, NULL);
}

// cgo and vet disagree on the Go type of an anonymous enum parameter.
static const char *wasmhost_go_status_name(int status) {
	return wasmhost_status_name((WasmhostStatus)status);
}
*/
import "C"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/cgo"
	"sort"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Error is a failed call: the C API's status and its message.
type Error struct {
	// Status is the C API's status name, e.g. "load", "run", "invalid_utf8".
	Status string
	// Message says what went wrong.
	Message string
}

func (e *Error) Error() string { return "wasmhost: " + e.Status + ": " + e.Message }

// check turns a status and its message into an error (and frees the
// message). It takes the message's address: Go does not order reading a
// plain variable argument after the call that sets it.
func check(status C.WasmhostStatus, message **C.char) error {
	if status == C.WASMHOST_STATUS_OK {
		return nil
	}
	err := &Error{Status: C.GoString(C.wasmhost_go_status_name(C.int(status)))}
	if message != nil && *message != nil {
		err.Message = C.GoString(*message)
		C.wasmhost_string_free(*message)
		*message = nil
	}
	return err
}

// HostOptions says how a Host is built; nil means the defaults.
type HostOptions struct {
	// ConfigPath is the routing TOML of `wasmhost run --config`: sinks,
	// routes by LogQL selector, [lift].
	ConfigPath string
	// LogFile receives the default sink's JSON lines instead of stderr.
	LogFile string
	// DiscardDefault writes nothing to the default sink: records reach only
	// the config's routes and each run's Records.
	DiscardDefault bool
	// NoCache compiles every module instead of using the compile cache.
	NoCache bool
	// Fuel meters fuel, so RunOptions.Fuel can be enforced.
	Fuel bool
	// Pooling pre-reserves slots for this many instances at once (0: off).
	Pooling uint32
	// Sidecar, when set, is the base URL of a `wasmhost serve` that runs
	// the modules instead of this process (see Dial); the fields above are
	// then the sidecar's own flags, and are ignored here.
	Sidecar string
}

// Host is the engine, its runtime and its log sinks. Safe for concurrent use.
type Host struct {
	mu      sync.Mutex
	ptr     *C.WasmhostHost
	sidecar *sidecarClient
}

// NewHost builds a host.
func NewHost(opts *HostOptions) (*Host, error) {
	if opts != nil && opts.Sidecar != "" {
		sidecar, err := newSidecar(opts.Sidecar)
		if err != nil {
			return nil, err
		}
		return &Host{sidecar: sidecar}, nil
	}
	var copts *C.WasmhostHostOptions
	if opts != nil {
		copts = C.wasmhost_host_options_new()
		defer C.wasmhost_host_options_free(copts)
		var message *C.char
		setString := func(value string, set func(*C.char) C.WasmhostStatus) error {
			if value == "" {
				return nil
			}
			cs := C.CString(value)
			defer C.free(unsafe.Pointer(cs))
			return check(set(cs), &message)
		}
		if err := setString(opts.ConfigPath, func(s *C.char) C.WasmhostStatus { return C.wasmhost_host_options_config(copts, s, &message) }); err != nil {
			return nil, err
		}
		if err := setString(opts.LogFile, func(s *C.char) C.WasmhostStatus { return C.wasmhost_host_options_log_file(copts, s, &message) }); err != nil {
			return nil, err
		}
		if opts.DiscardDefault {
			C.wasmhost_host_options_discard_default(copts, nil)
		}
		C.wasmhost_host_options_cache(copts, C.bool(!opts.NoCache), nil)
		C.wasmhost_host_options_fuel(copts, C.bool(opts.Fuel), nil)
		C.wasmhost_host_options_pooling(copts, C.uint32_t(opts.Pooling), nil)
	}
	var ptr *C.WasmhostHost
	var message *C.char
	if err := check(C.wasmhost_host_new(copts, &ptr, &message), &message); err != nil {
		return nil, err
	}
	return &Host{ptr: ptr}, nil
}

// Close frees the host. Modules loaded from it keep working until they are
// closed; the last one to go flushes the sinks.
func (h *Host) Close() error {
	if h.sidecar != nil {
		h.sidecar.client.CloseIdleConnections()
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr == nil {
		return nil
	}
	err := check(C.wasmhost_host_free(h.ptr), nil)
	h.ptr = nil
	return err
}

func (h *Host) handle() (*C.WasmhostHost, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr == nil {
		return nil, &Error{Status: "invalid_handle", Message: "the host is closed"}
	}
	return h.ptr, nil
}

// Module is a module compiled and linked once. Safe for concurrent use.
type Module struct {
	// Name is the module's name, as its records' `module` field says it.
	Name    string
	mu      sync.RWMutex
	ptr     *C.WasmhostModule
	sidecar *sidecarClient
}

func newModule(ptr *C.WasmhostModule) *Module {
	return &Module{Name: C.GoString(C.wasmhost_module_name(ptr)), ptr: ptr}
}

// LoadFile loads a .wasm or .wat file (the compile cache is honoured).
// On a sidecar host it names the sidecar's module of the same file stem,
// which must be in the sidecar's --modules directory (a missing one is an
// error of status "load" at Run).
func (h *Host) LoadFile(path string) (*Module, error) {
	if h.sidecar != nil {
		return h.sidecar.module(path), nil
	}
	hp, err := h.handle()
	if err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var ptr *C.WasmhostModule
	var message *C.char
	if err := check(C.wasmhost_module_load_file(hp, cpath, &ptr, &message), &message); err != nil {
		return nil, err
	}
	return newModule(ptr), nil
}

// LoadBytes loads a module from bytes; name names it in errors and records.
// A sidecar host cannot: the sidecar runs the modules of its own directory.
func (h *Host) LoadBytes(name string, code []byte) (*Module, error) {
	if h.sidecar != nil {
		return nil, &Error{Status: "invalid_argument", Message: "a sidecar runs the modules of its --modules directory: use LoadFile"}
	}
	hp, err := h.handle()
	if err != nil {
		return nil, err
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var ptr *C.WasmhostModule
	var message *C.char
	var data *C.uint8_t
	if len(code) > 0 {
		data = (*C.uint8_t)(unsafe.Pointer(&code[0]))
	}
	if err := check(C.wasmhost_module_load_bytes(hp, cname, data, C.size_t(len(code)), &ptr, &message), &message); err != nil {
		return nil, err
	}
	return newModule(ptr), nil
}

// Close frees the module, after the runs in progress have returned.
func (m *Module) Close() error {
	if m.sidecar != nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr == nil {
		return nil
	}
	err := check(C.wasmhost_module_free(m.ptr), nil)
	m.ptr = nil
	return err
}

// RunOptions are the options of one run. The zero value runs `_start` with
// no arguments, an empty environment and no stdin.
type RunOptions struct {
	// Args go after argv[0].
	Args []string
	// Env is the guest's whole environment.
	Env map[string]string
	// Preopens maps host directories to the paths the guest sees them as.
	Preopens map[string]string
	// Labels go on every record of the run (e.g. job, route).
	Labels map[string]string
	// Traceparent is a W3C traceparent: trace_id and span_id on every record.
	Traceparent string
	// Stdin is what the guest reads on its standard input.
	Stdin []byte
	// StdoutLimit caps the stdout kept (default 1 MiB).
	StdoutLimit int
	// Fuel, MaxMemory and MaxTableElements are limits (0: none). The
	// timeout is the context's deadline.
	Fuel, MaxMemory, MaxTableElements uint64
	// Records receives each record as one JSON line (with its final
	// newline): a func([]byte), or an io.Writer (one Write per record).
	// In-process it is called as the instance makes each record, on the
	// library thread the instance runs on; over a sidecar, on the calling
	// goroutine as the answer is read (the sidecar returns the run's records
	// with its stdout). Never concurrently for one run, never after Run
	// returned.
	Records any
	// NoGoroutineID leaves out the goroutine_id label.
	NoGoroutineID bool
}

// Result is how a run ended.
type Result struct {
	// ExitCode is the guest's; 134 after a trap or a limit that stopped it.
	ExitCode int
	// Stdout is what the guest wrote to its standard output.
	Stdout []byte
	// InstanceID is the records' wasm_instance_id.
	InstanceID string
	// Outcome is exit, trap, timeout, out_of_fuel, stopped (the host shut
	// down, or the context was cancelled) or error.
	Outcome string
}

// recordSink delivers one run's records to its func or writer.
type recordSink struct {
	fn  func([]byte)
	w   io.Writer
	err error
}

// newRecordSink is the sink of RunOptions.Records (nil for none).
func newRecordSink(records any) (*recordSink, error) {
	switch r := records.(type) {
	case nil:
		return nil, nil
	case func([]byte):
		return &recordSink{fn: r}, nil
	case io.Writer:
		return &recordSink{w: r}, nil
	default:
		return nil, fmt.Errorf("wasmhost: RunOptions.Records is a %T, not a func([]byte) or an io.Writer", r)
	}
}

func (s *recordSink) deliver(line []byte) {
	if s.fn != nil {
		s.fn(line)
		return
	}
	if s.err == nil {
		_, s.err = s.w.Write(line)
	}
}

// GoroutineID is the id of the calling goroutine, read from the first line
// of its stack trace ("goroutine 42 [running]:"), as Go services that log
// it do; Go gives no other way. It costs about a microsecond. It identifies
// the goroutine that called Run while it lives (ids are not reused), which
// lets a run's records be joined with the service's own lines from the same
// goroutine; it says nothing about requests handed between goroutines.
func GoroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	field := bytes.Fields(buf[len("goroutine "):n])
	if len(field) == 0 {
		return 0
	}
	id, _ := strconv.ParseUint(string(field[0]), 10, 64)
	return id
}

// Run runs one instance of the module to its end. The context's deadline
// is the guest's timeout (the guest is stopped at it, with an
// instance.timeout record, Outcome "timeout" and exit code 134). A context
// cancelled while the guest runs stops it at once, also when it is blocked
// in a sleep or a stdin read: its records end with instance.stopped
// ("stopped: the run was cancelled") and instance.exit, and Run returns
// the context's error — with the Result (Outcome "stopped", exit code 134)
// in-process; over a sidecar the connection is closed, so there is no
// Result. A context already done returns its error without running. Traps
// and limits are Results, not errors.
func (m *Module) Run(ctx context.Context, opts RunOptions) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.sidecar != nil {
		return m.sidecar.run(ctx, m.Name, &opts)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ptr == nil {
		return nil, &Error{Status: "invalid_handle", Message: "the module is closed"}
	}
	copts := C.wasmhost_run_options_new()
	defer C.wasmhost_run_options_free(copts)
	if err := setOptions(copts, &opts); err != nil {
		return nil, err
	}
	var timeoutMs uint64
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		timeoutMs = uint64((left + time.Millisecond - 1) / time.Millisecond)
	}
	var message *C.char
	status := C.wasmhost_run_options_limits(copts, C.uint64_t(timeoutMs), C.uint64_t(opts.Fuel), C.uint64_t(opts.MaxMemory), C.uint64_t(opts.MaxTableElements), &message)
	if err := check(status, &message); err != nil {
		return nil, err
	}
	sink, err := newRecordSink(opts.Records)
	if err != nil {
		return nil, err
	}
	if sink != nil {
		handle := cgo.NewHandle(sink)
		defer handle.Delete()
		C.wasmhost_go_callback(copts, C.uintptr_t(handle))
	}
	stopCancel := cancelOnDone(ctx, copts)
	var res *C.WasmhostResult
	status = C.wasmhost_run(m.ptr, copts, &res, &message)
	stopCancel()
	if err := check(status, &message); err != nil {
		return nil, err
	}
	defer C.wasmhost_result_free(res)
	var data *C.uint8_t
	var n C.size_t
	C.wasmhost_result_stdout(res, &data, &n, nil)
	result := &Result{
		ExitCode:   int(C.wasmhost_result_exit_code(res)),
		Stdout:     C.GoBytes(unsafe.Pointer(data), C.int(n)),
		InstanceID: C.GoString(C.wasmhost_result_instance_id(res)),
		Outcome:    C.GoString(C.wasmhost_result_outcome(res)),
	}
	if sink != nil && sink.err != nil {
		return result, fmt.Errorf("wasmhost: writing records: %w", sink.err)
	}
	if result.Outcome == "stopped" && ctx.Err() != nil {
		return result, ctx.Err()
	}
	return result, nil
}

// cancelOnDone gives the run a cancel handle that ctx's cancellation
// fires (from the goroutine context.AfterFunc starts); the returned func,
// called once the run returned, waits for that goroutine and frees the
// handle. A passed deadline is left to the guest's own timeout, which
// stops it with instance.timeout at the same moment.
func cancelOnDone(ctx context.Context, copts *C.WasmhostRunOptions) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	cancel := C.wasmhost_cancel_new()
	C.wasmhost_run_options_cancel(copts, cancel, nil)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			C.wasmhost_cancel(cancel)
		}
	})
	return func() {
		if !stop() {
			<-fired
		}
		C.wasmhost_cancel_free(cancel)
	}
}

// setOptions copies opts into the C options (maps in key order, so a run
// is the same whatever Go's map order).
func setOptions(copts *C.WasmhostRunOptions, opts *RunOptions) error {
	var message *C.char
	withStrings := func(set func(a, b *C.char) C.WasmhostStatus, a, b string) error {
		ca, cb := C.CString(a), C.CString(b)
		defer C.free(unsafe.Pointer(ca))
		defer C.free(unsafe.Pointer(cb))
		return check(set(ca, cb), &message)
	}
	for _, arg := range opts.Args {
		if err := withStrings(func(a, _ *C.char) C.WasmhostStatus { return C.wasmhost_run_options_arg(copts, a, &message) }, arg, ""); err != nil {
			return err
		}
	}
	pairs := []struct {
		m   map[string]string
		set func(a, b *C.char) C.WasmhostStatus
	}{
		{opts.Env, func(a, b *C.char) C.WasmhostStatus { return C.wasmhost_run_options_env(copts, a, b, &message) }},
		{opts.Preopens, func(a, b *C.char) C.WasmhostStatus { return C.wasmhost_run_options_preopen(copts, a, b, &message) }},
		{opts.Labels, func(a, b *C.char) C.WasmhostStatus { return C.wasmhost_run_options_label(copts, a, b, &message) }},
	}
	for _, p := range pairs {
		keys := make([]string, 0, len(p.m))
		for k := range p.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := withStrings(p.set, k, p.m[k]); err != nil {
				return err
			}
		}
	}
	if !opts.NoGoroutineID {
		id := strconv.FormatUint(GoroutineID(), 10)
		if err := withStrings(func(a, b *C.char) C.WasmhostStatus { return C.wasmhost_run_options_label(copts, a, b, &message) }, "goroutine_id", id); err != nil {
			return err
		}
	}
	if opts.Traceparent != "" {
		if err := withStrings(func(a, _ *C.char) C.WasmhostStatus { return C.wasmhost_run_options_traceparent(copts, a, &message) }, opts.Traceparent, ""); err != nil {
			return err
		}
	}
	if len(opts.Stdin) > 0 {
		status := C.wasmhost_run_options_stdin(copts, (*C.uint8_t)(unsafe.Pointer(&opts.Stdin[0])), C.size_t(len(opts.Stdin)), &message)
		if err := check(status, &message); err != nil {
			return err
		}
	}
	if opts.StdoutLimit > 0 {
		C.wasmhost_run_options_stdout_limit(copts, C.size_t(opts.StdoutLimit), nil)
	}
	return nil
}
