package wasmhost

// The third transport: a `wasmhost serve` sidecar over HTTP, behind the
// same Host, Module and Run as the library linked in (docs/embedding-modes.md).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// deadlineSlack is how long past a context's deadline the sidecar's
// answer (a guest stopped at its timeout) is waited for.
const deadlineSlack = 2 * time.Second

// sidecarClient runs modules on a `wasmhost serve` at base.
type sidecarClient struct {
	base   string
	client *http.Client
}

// Dial returns a Host that runs every module on the `wasmhost serve`
// sidecar at baseURL (e.g. "http://127.0.0.1:8080") instead of in this
// process: the same as NewHost(&HostOptions{Sidecar: baseURL}).
func Dial(baseURL string) (*Host, error) {
	return NewHost(&HostOptions{Sidecar: baseURL})
}

func newSidecar(base string) (*sidecarClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{Status: "config", Message: fmt.Sprintf("sidecar URL %q: expected http://HOST:PORT", base)}
	}
	// Keep-alive connections, as many idle as a gateway has runs in flight.
	transport := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	return &sidecarClient{base: strings.TrimSuffix(base, "/"), client: &http.Client{Transport: transport}}, nil
}

// module names the sidecar's module for a file: its stem, as
// `wasmhost serve --modules DIR` serves DIR/NAME.wasm as /run/NAME.
func (s *sidecarClient) module(path string) *Module {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return &Module{Name: name, sidecar: s}
}

// unsupported is the error for options only the in-process host has.
func unsupported(what string) error {
	return &Error{Status: "invalid_argument", Message: what + " is the sidecar's own (its flags): not settable per run over HTTP"}
}

// run is Module.Run over HTTP: POST /run/{name} with the arguments, the
// environment and the labels in the query, the stdin as the body, the
// traceparent and the context's deadline in headers. With opts.Records,
// the request asks for the run's records too (x-wasmhost-records: ndjson)
// and the answer is multipart: the stdout part and the records part, whose
// lines go to opts.Records as they are read.
func (s *sidecarClient) run(ctx context.Context, name string, opts *RunOptions) (*Result, error) {
	switch {
	case len(opts.Preopens) > 0:
		return nil, unsupported("Preopens")
	case opts.Fuel > 0 || opts.MaxMemory > 0 || opts.MaxTableElements > 0:
		return nil, unsupported("Fuel, MaxMemory and MaxTableElements")
	}
	sink, err := newRecordSink(opts.Records)
	if err != nil {
		return nil, err
	}
	query := url.Values{}
	for _, arg := range opts.Args {
		query.Add("arg", arg)
	}
	pairs := func(kind string, m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			query.Add(kind, k+"="+m[k])
		}
	}
	pairs("env", opts.Env)
	labels := opts.Labels
	if !opts.NoGoroutineID {
		labels = make(map[string]string, len(opts.Labels)+1)
		for k, v := range opts.Labels {
			labels[k] = v
		}
		labels["goroutine_id"] = strconv.FormatUint(GoroutineID(), 10)
	}
	pairs("label", labels)
	// The C API refuses invalid UTF-8 before anything runs; so does this.
	for _, values := range query {
		for _, v := range values {
			if !utf8.ValidString(v) {
				return nil, &Error{Status: "invalid_utf8", Message: fmt.Sprintf("%q is not valid UTF-8", v)}
			}
		}
	}
	// The request ends when ctx is cancelled (closing the connection stops
	// the guest), but not at ctx's deadline: the sidecar stops the guest at
	// it with instance.timeout and answers, as the library does in-process;
	// only if that answer is late is the request given up.
	reqCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			time.AfterFunc(deadlineSlack, abort)
			return
		}
		abort()
	})
	defer stop()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, s.base+"/run/"+url.PathEscape(name)+"?"+query.Encode(), bytes.NewReader(opts.Stdin))
	if err != nil {
		return nil, err
	}
	if opts.Traceparent != "" {
		req.Header.Set("traceparent", opts.Traceparent)
	}
	if sink != nil {
		req.Header.Set("x-wasmhost-records", "ndjson")
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		req.Header.Set("x-wasmhost-timeout-ms", strconv.FormatInt(int64((left+time.Millisecond-1)/time.Millisecond), 10))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// A cancelled context closed the connection: the sidecar stops the guest.
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Status: "sidecar", Message: err.Error()}
	}
	defer resp.Body.Close()
	limit := opts.StdoutLimit
	if limit <= 0 {
		limit = 1 << 20
	}
	if resp.StatusCode != http.StatusOK {
		text, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, &Error{Status: sidecarStatus(resp.StatusCode), Message: strings.TrimSpace(string(text))}
	}
	code, err := strconv.Atoi(resp.Header.Get("x-wasmhost-exit-code"))
	if err != nil {
		return nil, &Error{Status: "sidecar", Message: "no x-wasmhost-exit-code in the answer: is this a wasmhost sidecar?"}
	}
	result := &Result{ExitCode: code, InstanceID: resp.Header.Get("x-wasm-instance-id"), Outcome: resp.Header.Get("x-wasmhost-outcome")}
	if sink == nil {
		result.Stdout, err = io.ReadAll(io.LimitReader(resp.Body, int64(limit)))
	} else {
		result.Stdout, err = readWithRecords(resp, int64(limit), sink)
	}
	if err != nil {
		return nil, &Error{Status: "sidecar", Message: "reading the response: " + err.Error()}
	}
	if sink != nil && sink.err != nil {
		return result, fmt.Errorf("wasmhost: writing records: %w", sink.err)
	}
	if dropped := resp.Header.Get("x-wasmhost-records-dropped"); dropped != "" {
		return result, &Error{Status: "records_dropped", Message: dropped + " records of the run were left out: they would have taken the answer past the sidecar's --max-body"}
	}
	return result, nil
}

// readWithRecords reads a multipart answer (x-wasmhost-records: ndjson):
// returns the stdout part, and hands each line of the records part to sink
// as it is read.
func readWithRecords(resp *http.Response, limit int64, sink *recordSink) ([]byte, error) {
	kind, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || kind != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("records were asked for, but the answer is %q, not multipart/mixed: is the sidecar older than this package?", resp.Header.Get("Content-Type"))
	}
	parts := multipart.NewReader(resp.Body, params["boundary"])
	var stdout []byte
	for {
		part, err := parts.NextPart()
		if err == io.EOF {
			return stdout, nil
		}
		if err != nil {
			return nil, err
		}
		_, disposition, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		switch disposition["name"] {
		case "stdout":
			if stdout, err = io.ReadAll(io.LimitReader(part, limit)); err != nil {
				return nil, err
			}
		case "records":
			lines := bufio.NewReader(part)
			for {
				line, err := lines.ReadBytes('\n')
				if len(line) > 0 {
					sink.deliver(line)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					return nil, err
				}
			}
		}
	}
}

// sidecarStatus maps the sidecar's HTTP status to the C API's status
// names, so errors read the same in every mode.
func sidecarStatus(code int) string {
	switch code {
	case http.StatusNotFound:
		return "load" // no such module in the sidecar's directory
	case http.StatusBadRequest:
		return "run" // a refused label, a malformed argument
	case http.StatusRequestEntityTooLarge:
		return "invalid_argument"
	case http.StatusServiceUnavailable:
		return "unavailable" // every run slot taken, or draining: retry
	default:
		return "sidecar"
	}
}
