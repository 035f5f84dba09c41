// Command nbio is the benchmark echo server on lesismal/nbio: its own
// epoll engine (nbhttp) and websocket package. nbio negotiates
// permessage-deflate without context takeover only.
package main

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
	"github.com/websock/websock/bench/internal/server"
)

func main() {
	cfg := server.Parse()
	logging.SetLevel(logging.LevelError) // not a line per engine start and stop
	if cfg.Takeover {
		log.Fatal("nbio: no context takeover")
	}
	up := websocket.NewUpgrader()
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.KeepaliveTime = 0 // no read deadline: the others keep idle connections open too
	up.EnableCompression(cfg.Compress)
	up.OnMessage(func(c *websocket.Conn, typ websocket.MessageType, data []byte) {
		if c.WriteMessage(typ, data) != nil {
			c.Close()
		}
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		up.Upgrade(w, r, nil)
	})
	conf := nbhttp.Config{Network: "tcp", Handler: mux}
	if cfg.TLS {
		cert, err := tls.X509KeyPair(cfg.KeyPair())
		if err != nil {
			log.Fatal(err)
		}
		conf.AddrsTLS = []string{cfg.Addr}
		conf.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	} else {
		conf.Addrs = []string{cfg.Addr}
	}
	engine := nbhttp.NewEngine(conf)
	if err := engine.Start(); err != nil {
		log.Fatal(err)
	}
	defer cfg.Profile()()
	server.WaitSignal()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	engine.Shutdown(ctx)
}
