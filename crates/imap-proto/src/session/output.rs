//! Where the session writes its responses: a byte buffer that, when the shell gives it a
//! sink, is handed over in chunks as it fills, so a FETCH of many large messages is streamed
//! with bounded memory.

use crate::names::NameEncoding;
use crate::response::Response;

type Sink = Box<dyn FnMut(Vec<u8>) -> bool + Send>;

pub struct Output {
    buf: Vec<u8>,
    sink: Option<Sink>,
    chunk: usize,
    closed: bool,
    /// How mailbox names are written; the session sets it for each command.
    names: NameEncoding,
}

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

impl Output {
    /// Everything stays in the buffer until [`Output::take`].
    pub fn new() -> Output {
        Output {
            buf: Vec::new(),
            sink: None,
            chunk: usize::MAX,
            closed: false,
            names: NameEncoding::ModifiedUtf7,
        }
    }

    /// Hands the buffer to `sink` whenever it holds `chunk` bytes or more; `sink` returns
    /// false once the client is gone, after which output is dropped.
    pub fn with_sink(chunk: usize, sink: impl FnMut(Vec<u8>) -> bool + Send + 'static) -> Output {
        Output {
            buf: Vec::new(),
            sink: Some(Box::new(sink)),
            chunk,
            closed: false,
            names: NameEncoding::ModifiedUtf7,
        }
    }

    pub fn set_names(&mut self, names: NameEncoding) {
        self.names = names;
    }

    pub fn push(&mut self, r: Response) {
        self.push_ref(&r);
    }

    pub fn push_ref(&mut self, r: &Response) {
        if self.closed {
            return;
        }
        r.encode_with(&mut self.buf, self.names);
        if self.buf.len() >= self.chunk {
            if let Some(sink) = self.sink.as_mut() {
                // Output this large is likely to go on: the next chunk gets its room (and
                // some for the response that crosses the mark) at once instead of growing,
                // and copying, its way up to it.
                let next = Vec::with_capacity(self.chunk.saturating_add(self.chunk / 8));
                if !sink(std::mem::replace(&mut self.buf, next)) {
                    self.closed = true;
                }
            }
        }
    }

    pub fn extend(&mut self, rs: impl IntoIterator<Item = Response>) {
        for r in rs {
            self.push(r);
        }
    }

    /// The client went away while a command was answered: stop producing output.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// What is buffered and not yet handed to the sink.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}
