// Command client is the Autobahn|Testsuite client driver for websock: it
// runs every case of a fuzzing server (wstest -m fuzzingserver, or
// websock conformance -serve) against the websock client, echoing each
// message back with its type, then asks the server to write its reports.
//
//	go run ./examples/autobahn/client -url ws://127.0.0.1:9001 -agent websock
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"strconv"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

func main() {
	base := flag.String("url", "ws://127.0.0.1:9001", "fuzzing server URL (ws:// or wss://)")
	agent := flag.String("agent", "websock", "agent name in the reports")
	insecure := flag.Bool("insecure", false, "accept the server's certificate without verification (wss)")
	flag.Parse()

	opts := func() *websock.DialOptions {
		return &websock.DialOptions{
			TLSConfig:  &tls.Config{InsecureSkipVerify: *insecure},
			Extensions: autobahnExtensions(),
		}
	}
	ctx := context.Background()
	count, err := caseCount(ctx, *base, opts())
	if err != nil {
		log.Fatalf("getCaseCount: %v", err)
	}
	log.Printf("%d cases", count)
	for i := 1; i <= count; i++ {
		u := *base + "/runCase?case=" + strconv.Itoa(i) + "&agent=" + url.QueryEscape(*agent)
		if err := runCase(ctx, u, opts()); err != nil {
			log.Printf("case %d: %v", i, err)
		}
	}
	c, _, err := websock.Dial(ctx, *base+"/updateReports?agent="+url.QueryEscape(*agent), opts())
	if err != nil {
		log.Fatalf("updateReports: %v", err)
	}
	c.Close(websock.StatusNormalClosure, "")
	log.Printf("reports updated")
}

// autobahnExtensions lists the extensions offered to the suite.
func autobahnExtensions() []extension.Extension {
	return []extension.Extension{&websock.PerMessageDeflate{}}
}

// caseCount reads the number of cases from /getCaseCount.
func caseCount(ctx context.Context, base string, opts *websock.DialOptions) (int, error) {
	c, _, err := websock.Dial(ctx, base+"/getCaseCount", opts)
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	_, msg, err := c.Read(ctx)
	if err != nil {
		return 0, err
	}
	c.Close(websock.StatusNormalClosure, "")
	return strconv.Atoi(string(msg))
}

// runCase echoes every message of one case until the server closes.
func runCase(ctx context.Context, u string, opts *websock.DialOptions) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	c, _, err := websock.Dial(ctx, u, opts)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	var buf []byte
	for {
		typ, msg, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			if code := websock.CloseStatus(err); code > 0 {
				return nil // the case ended with a closing handshake
			}
			return fmt.Errorf("read: %w", err)
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		buf = msg
	}
}
