package deflate

// slideWindow keeps the last size bytes of a stream, the dictionary that
// context takeover carries from one message to the next. Its buffer grows
// with the traffic up to twice size, so that adding costs amortised
// O(len(p)) instead of moving the whole window each time.
type slideWindow struct {
	size int // bytes kept
	buf  []byte
}

// add appends p to the stream.
func (w *slideWindow) add(p []byte) {
	if len(p) >= w.size {
		w.buf = append(w.buf[:0], p[len(p)-w.size:]...)
		return
	}
	if len(w.buf)+len(p) > cap(w.buf) {
		if cap(w.buf) < 2*w.size {
			grown := make([]byte, len(w.buf), min(2*w.size, max(2*cap(w.buf), len(w.buf)+len(p), 512)))
			copy(grown, w.buf)
			w.buf = grown
		}
		if len(w.buf)+len(p) > cap(w.buf) {
			// Full: move the bytes that stay in the window to the front.
			keep := w.size - len(p)
			w.buf = w.buf[:copy(w.buf, w.buf[len(w.buf)-keep:])]
		}
	}
	w.buf = append(w.buf, p...)
}

// bytes returns the last size bytes (or fewer, early in the stream).
func (w *slideWindow) bytes() []byte {
	if len(w.buf) > w.size {
		return w.buf[len(w.buf)-w.size:]
	}
	return w.buf
}

// compact moves the window to a buffer of its own length, for a connection
// that has gone idle.
func (w *slideWindow) compact() {
	if b := w.bytes(); cap(w.buf) > len(b) {
		w.buf = append([]byte(nil), b...)
	}
}
