package wsjson

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/websock/websock"
)

// pair connects a client to a server over loopback TCP.
func pair(t testing.TB, aopts *websock.AcceptOptions) (server, client *websock.Conn) {
	t.Helper()
	accepted := make(chan *websock.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, aopts)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}))
	t.Cleanup(srv.Close)
	client, _, err := websock.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	return server, client
}

type chat struct {
	From string   `json:"from"`
	Text string   `json:"text"`
	Tags []string `json:"tags,omitempty"`
}

func TestRoundTrip(t *testing.T) {
	server, client := pair(t, nil)
	ctx := context.Background()
	sent := []chat{{From: "ann", Text: "hi"}, {From: "bob", Text: strings.Repeat("long ", 20000), Tags: []string{"x"}}, {}}
	go func() {
		for _, m := range sent {
			if err := Write(ctx, client, m); err != nil {
				t.Error(err)
			}
		}
	}()
	for i, want := range sent {
		var got chat
		if err := Read(ctx, server, &got); err != nil {
			t.Fatal(err)
		}
		if got.From != want.From || got.Text != want.Text || len(got.Tags) != len(want.Tags) {
			t.Fatalf("value %d differs after the round trip", i)
		}
	}
}

// Each value is one text message holding exactly json.Marshal's bytes.
func TestWriteSendsOneTextMessage(t *testing.T) {
	server, client := pair(t, nil)
	ctx := context.Background()
	if err := Write(ctx, client, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	typ, msg, err := server.Read(ctx)
	if err != nil || typ != websock.TextMessage || string(msg) != `{"a":1}` {
		t.Fatalf("server read %v %q %v", typ, msg, err)
	}
}

func TestWriteEncodingErrorSendsNothing(t *testing.T) {
	server, client := pair(t, nil)
	ctx := context.Background()
	if err := Write(ctx, client, math.Inf(1)); err == nil || !strings.Contains(err.Error(), "wsjson: encode") {
		t.Fatalf("Write(+Inf): %v", err)
	}
	Write(ctx, client, "next")
	var s string
	if err := Read(ctx, server, &s); err != nil || s != "next" {
		t.Fatalf("first message read: %q %v, want the one after the failed Write", s, err)
	}
}

func TestReadDecodeErrorKeepsConnection(t *testing.T) {
	server, client := pair(t, nil)
	ctx := context.Background()
	client.Write(ctx, websock.TextMessage, []byte(`{"from": 3}`))
	Write(ctx, client, chat{From: "ann"})
	var v chat
	var typeErr *json.UnmarshalTypeError
	if err := Read(ctx, server, &v); !errors.As(err, &typeErr) {
		t.Fatalf("Read of a mistyped value: %v", err)
	}
	if err := Read(ctx, server, &v); err != nil || v.From != "ann" {
		t.Fatalf("Read after a decoding error: %+v %v", v, err)
	}
}

func TestReadBinaryClosesWith1003(t *testing.T) {
	server, client := pair(t, nil)
	ctx := context.Background()
	client.Write(ctx, websock.BinaryMessage, []byte(`{}`))
	var v any
	if err := Read(ctx, server, &v); err == nil {
		t.Fatal("Read accepted a binary message")
	}
	go server.Read(ctx) // completes the closing handshake
	if _, _, err := client.Read(ctx); !websock.IsCloseError(err, websock.StatusUnsupportedData) {
		t.Fatalf("client read %v, want close status 1003", err)
	}
}

func TestReadLimitApplies(t *testing.T) {
	server, client := pair(t, &websock.AcceptOptions{ConnOptions: websock.ConnOptions{ReadLimit: 100}})
	ctx := context.Background()
	go Write(ctx, client, strings.Repeat("x", 200))
	var s string
	if err := Read(ctx, server, &s); !errors.Is(err, websock.ErrMessageTooBig) {
		t.Fatalf("Read of a value above the read limit: %v", err)
	}
}

var benchValue = chat{From: "ann", Text: strings.Repeat("hello world ", 20), Tags: []string{"a", "b"}}

// Write and Read allocate what encoding/json allocates, and nothing more:
// each costs no more than json.Marshal or json.Unmarshal around the same
// websock calls (so that what the race detector adds counts on both sides).
func TestAllocationsAreEncodingJSONs(t *testing.T) {
	server, client := pair(t, nil)
	ctx := context.Background()
	encoded, _ := json.Marshal(benchValue)
	buf := make([]byte, 0, 4096)
	var v chat
	for _, tt := range []struct {
		name       string
		with, bare func()
	}{
		{"Write", func() {
			Write(ctx, client, benchValue)
			server.ReadAppend(ctx, buf[:0])
		}, func() {
			b, _ := json.Marshal(benchValue)
			client.Write(ctx, websock.TextMessage, b)
			server.ReadAppend(ctx, buf[:0])
		}},
		{"Read", func() {
			client.Write(ctx, websock.TextMessage, encoded)
			Read(ctx, server, &v)
		}, func() {
			client.Write(ctx, websock.TextMessage, encoded)
			_, b, _ := server.ReadAppend(ctx, buf[:0])
			json.Unmarshal(b, &v)
		}},
	} {
		with := testing.AllocsPerRun(200, tt.with)
		bare := testing.AllocsPerRun(200, tt.bare)
		if raceEnabled {
			bare++ // the pooled buffer, dropped by sync.Pool at times
		}
		if with > bare {
			t.Errorf("%s allocates %.1f times per value, encoding/json and websock alone %.1f", tt.name, with, bare)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	server, client := pair(b, nil)
	ctx := context.Background()
	go func() {
		buf := make([]byte, 0, 4096)
		for {
			if _, _, err := server.ReadAppend(ctx, buf[:0]); err != nil {
				return
			}
		}
	}()
	encoded, _ := json.Marshal(benchValue)
	b.SetBytes(int64(len(encoded)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(ctx, client, benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	server, client := pair(b, nil)
	ctx := context.Background()
	encoded, _ := json.Marshal(benchValue)
	b.SetBytes(int64(len(encoded)))
	b.ReportAllocs()
	var v chat
	for b.Loop() {
		client.Write(ctx, websock.TextMessage, encoded)
		if err := Read(ctx, server, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// The baselines: encoding/json alone.
func BenchmarkMarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		json.Marshal(benchValue)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	encoded, _ := json.Marshal(benchValue)
	b.ReportAllocs()
	var v chat
	for b.Loop() {
		json.Unmarshal(encoded, &v)
	}
}
