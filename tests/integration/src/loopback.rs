//! A tiny HTTP/1.1 server on 127.0.0.1 for live-mode HTTPS outcall tests: it answers every
//! request with one canned response and remembers the request heads it saw.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// The response the server gives to every request.
#[derive(Clone, Debug)]
pub struct CannedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl CannedResponse {
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        CannedResponse {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} Canned\r\n", self.status);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            self.body.len()
        ));
        [head.into_bytes(), self.body.clone()].concat()
    }
}

/// A running server; its thread lives until the test process ends.
pub struct LoopbackServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl LoopbackServer {
    pub fn start(response: CannedResponse) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener
            .local_addr()
            .expect("a bound listener has an address")
            .port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve_one(stream, &response, &seen);
            }
        });
        LoopbackServer { port, requests }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The request lines and headers received so far, one string per request.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("request log lock").clone()
    }
}

fn serve_one(stream: TcpStream, response: &CannedResponse, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(&stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    seen.lock().expect("request log lock").push(head);
    let _ = (&stream).write_all(&response.to_bytes());
}
