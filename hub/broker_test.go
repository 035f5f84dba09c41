package hub

import (
	"testing"

	"github.com/websock/websock"
)

func TestLocalDeliversToEveryListenerInOrder(t *testing.T) {
	var l Local
	var a, b []string
	stopA, _ := l.Listen(func(m Message) { a = append(a, string(m.Data)) })
	stopB, _ := l.Listen(func(m Message) { b = append(b, string(m.Data)) })
	l.Publish(Message{Topic: "t", Type: websock.TextMessage, Data: []byte("1")})
	l.Publish(Message{Topic: "t", Type: websock.TextMessage, Data: []byte("2")})
	stopB()
	l.Publish(Message{Topic: "t", Type: websock.TextMessage, Data: []byte("3")})
	stopA()
	l.Publish(Message{Topic: "t", Type: websock.TextMessage, Data: []byte("4")})
	if got := len(a); got != 3 || a[0] != "1" || a[2] != "3" {
		t.Fatalf("a got %q", a)
	}
	if got := len(b); got != 2 || b[1] != "2" {
		t.Fatalf("b got %q", b)
	}
}
