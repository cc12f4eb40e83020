package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wasmhost.test/bindings/go/wasmhost"
)

func TestTheGatewayRunsAGuestPerRequest(t *testing.T) {
	t.Setenv("WASMHOST_CACHE_DIR", t.TempDir())
	host, err := wasmhost.NewHost(&wasmhost.HostOptions{DiscardDefault: true})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	load := func(name string) *wasmhost.Module {
		m, err := host.LoadFile(filepath.Join("..", "..", "..", "..", "..", "guests", "build", "c", name+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	server := httptest.NewServer(handler(load("upper"), "/upper", 2*time.Second))
	defer server.Close()
	req, _ := http.NewRequest("POST", server.URL, strings.NewReader("hello"))
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "HELLO" || len(resp.Header.Get("x-wasm-instance-id")) != 36 {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}

	spin := httptest.NewServer(handler(load("spin"), "/spin", 200*time.Millisecond))
	defer spin.Close()
	resp, err = http.Post(spin.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("a guest stopped at its timeout: %d", resp.StatusCode)
	}
}
