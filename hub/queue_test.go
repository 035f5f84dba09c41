package hub

import (
	"testing"

	"github.com/websock/websock"
)

func TestQueuePolicies(t *testing.T) {
	msgs := make([]*websock.PreparedMessage, 6)
	for i := range msgs {
		msgs[i], _ = websock.NewPreparedMessage(websock.BinaryMessage, []byte{byte(i)})
	}
	tests := []struct {
		policy      SlowPolicy
		wantKept    []int // indexes of msgs left in the queue, oldest first
		wantDropped int
		wantRefused int
	}{
		{DropOldest, []int{3, 4, 5}, 3, 0},
		{DropNewest, []int{0, 1, 2}, 3, 3},
		{CloseTryAgainLater, []int{0, 1, 2}, 3, 3},
		{ClosePolicyViolation, []int{0, 1, 2}, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			q := newQueue(3)
			dropped, refused := 0, 0
			for _, pm := range msgs {
				queued, d := q.push(pm, tt.policy)
				if d {
					dropped++
				}
				if !queued {
					refused++
				}
			}
			if dropped != tt.wantDropped || refused != tt.wantRefused {
				t.Fatalf("dropped %d refused %d, want %d %d", dropped, refused, tt.wantDropped, tt.wantRefused)
			}
			// Taken out in two calls: the first takes at most one.
			got := make([]*websock.PreparedMessage, len(msgs)+1)
			n := q.popInto(got[:1])
			n += q.popInto(got[n:])
			if n != len(tt.wantKept) {
				t.Fatalf("%d messages kept, want %d", n, len(tt.wantKept))
			}
			for k, i := range tt.wantKept {
				if got[k] != msgs[i] {
					t.Fatalf("message %d is the wrong one, want %d", k, i)
				}
			}
			if q.popInto(got) != 0 {
				t.Fatal("queue holds more than its size")
			}
		})
	}
}

func TestQueueClosed(t *testing.T) {
	q := newQueue(2)
	pm, _ := websock.NewPreparedMessage(websock.TextMessage, []byte("x"))
	q.push(pm, DropOldest)
	q.close()
	if q.popInto(make([]*websock.PreparedMessage, 2)) != 0 {
		t.Fatal("a closed queue keeps its messages")
	}
	if queued, _ := q.push(pm, DropOldest); queued {
		t.Fatal("a closed queue takes messages")
	}
}

func TestSlowPolicyString(t *testing.T) {
	for p, want := range map[SlowPolicy]string{DropOldest: "drop-oldest", DropNewest: "drop-newest", CloseTryAgainLater: "close-1013", ClosePolicyViolation: "close-1008", 9: "invalid"} {
		if p.String() != want {
			t.Errorf("%d: %q, want %q", p, p.String(), want)
		}
	}
}
