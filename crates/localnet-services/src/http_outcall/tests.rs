use super::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Instant;

/// Serves one connection on loopback: reads the request (head and `Content-Length`
/// body), waits `delay`, answers `response`. Returns the base URL and the request seen.
fn serve(response: String, delay: Duration) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut content_length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body).unwrap();
        std::thread::sleep(delay);
        let mut stream = stream;
        // The client may have given up already (timeout test): ignore write errors.
        let _ = stream.write_all(response.as_bytes());
        head + &String::from_utf8(body).unwrap()
    });
    (url, handle)
}

fn reply(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out + "connection: close\r\n\r\n" + body
}

fn client() -> LiveClient {
    LiveClient {
        timeout: Duration::from_secs(10),
        allow_plain_http: true,
    }
}

fn get(url: String) -> HttpRequestArgs {
    HttpRequestArgs {
        url,
        ..Default::default()
    }
}

fn header(name: &str, value: &str) -> HttpHeader {
    HttpHeader {
        name: name.to_string(),
        value: value.to_string(),
    }
}

#[test]
fn post_with_headers_and_body_succeeds() {
    let (url, server) = serve(
        reply("200 OK", &[("x-worker", "w1")], "accepted"),
        Duration::ZERO,
    );
    let args = HttpRequestArgs {
        url: format!("{url}/jobs"),
        method: HttpMethod::POST,
        headers: vec![
            header("X-Job", "7"),
            header("Content-Type", "application/json"),
        ],
        body: Some(b"{\"n\":1}".to_vec()),
        ..Default::default()
    };
    let result = client().perform(&args).unwrap();
    assert_eq!(result.status, candid::Nat::from(200u32));
    assert!(result.headers.contains(&header("x-worker", "w1")));
    assert_eq!(result.body, b"accepted");
    let seen = server.join().unwrap().to_ascii_lowercase();
    assert!(seen.starts_with("post /jobs http/1.1\r\n"), "{seen}");
    assert!(seen.contains("x-job: 7\r\n"));
    assert!(seen.contains("user-agent: ic/1.0\r\n"));
    assert!(seen.ends_with("{\"n\":1}"));
}

#[test]
fn head_request_has_no_body() {
    let (url, server) = serve(
        "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_string(),
        Duration::ZERO,
    );
    let args = HttpRequestArgs {
        method: HttpMethod::HEAD,
        ..get(url)
    };
    let result = client().perform(&args).unwrap();
    assert_eq!(result.status, candid::Nat::from(204u32));
    assert!(result.body.is_empty());
    assert!(server.join().unwrap().starts_with("HEAD / HTTP/1.1"));
}

#[test]
fn response_over_limit_is_a_fatal_reject() {
    let body = "x".repeat(1_000);
    let (url, server) = serve(reply("200 OK", &[], &body), Duration::ZERO);
    let args = HttpRequestArgs {
        max_response_bytes: Some(500),
        ..get(url)
    };
    let err = client().perform(&args).unwrap_err();
    assert_eq!(err.code, RejectCode::SysFatal);
    assert_eq!(err.message, "Http body exceeds size limit of 500 bytes.");
    server.join().unwrap();
}

#[test]
fn limit_counts_headers_too() {
    // Body of 100 bytes alone fits 120, but the headers push it over.
    let body = "y".repeat(100);
    let (url, server) = serve(
        reply("200 OK", &[("x-pad", "0123456789")], &body),
        Duration::ZERO,
    );
    let args = HttpRequestArgs {
        max_response_bytes: Some(120),
        ..get(url)
    };
    let err = client().perform(&args).unwrap_err();
    assert_eq!(err.code, RejectCode::SysFatal);
    server.join().unwrap();
}

#[test]
fn connection_refused_is_transient() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The listener is dropped: nothing listens on the port now.
    let err = client()
        .perform(&get(format!("http://127.0.0.1:{port}/")))
        .unwrap_err();
    assert_eq!(err.code, RejectCode::SysTransient);
    assert!(
        err.message.starts_with("Connecting to 127.0.0.1 failed: "),
        "{}",
        err.message
    );
}

#[test]
fn timeout_is_honoured_and_transient() {
    let (url, server) = serve(reply("200 OK", &[], "late"), Duration::from_secs(3));
    let client = LiveClient {
        timeout: Duration::from_millis(300),
        allow_plain_http: true,
    };
    let started = Instant::now();
    let err = client.perform(&get(url)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code, RejectCode::SysTransient);
    assert!(err.message.contains("timeout"), "{}", err.message);
    server.join().unwrap();
}

#[test]
fn redirects_are_returned_not_followed() {
    let location = "http://127.0.0.1:9/elsewhere";
    let (url, server) = serve(
        reply("302 Found", &[("location", location)], ""),
        Duration::ZERO,
    );
    let result = client().perform(&get(url)).unwrap();
    assert_eq!(result.status, candid::Nat::from(302u32));
    assert!(result.headers.contains(&header("location", location)));
    server.join().unwrap();
}

#[test]
fn plain_http_needs_permission() {
    let strict = LiveClient::default();
    let err = strict
        .perform(&get("http://127.0.0.1:9/".into()))
        .unwrap_err();
    assert_eq!(err.code, RejectCode::SysFatal);
    assert_eq!(err.message, "Url needs to specify https scheme");
    assert!(validate(&get("ftp://example.com".into()), true).is_err());
    assert!(validate(&get("https://example.com".into()), false).is_ok());
}

#[test]
fn validation_errors_are_canister_rejects() {
    let ok = get("https://example.com".into());
    let cases = [
        (
            HttpRequestArgs {
                max_response_bytes: Some(2_000_001),
                ..ok.clone()
            },
            "max_response_bytes expected to be in the range [0..2000000], got 2000001",
        ),
        (
            get(format!("https://example.com/{}", "a".repeat(MAX_URL_SIZE))),
            "url size 8212 exceeds 8192",
        ),
        (
            HttpRequestArgs {
                headers: (0..65).map(|i| header(&format!("h{i}"), "v")).collect(),
                ..ok.clone()
            },
            "number of all http headers 65 exceeds 64",
        ),
        (
            HttpRequestArgs {
                headers: vec![header("big", &"v".repeat(MAX_HEADER_NAME_VALUE_LENGTH + 1))],
                ..ok.clone()
            },
            "number of bytes to represent some http header value 8193 exceeds 8192",
        ),
        (
            HttpRequestArgs {
                method: HttpMethod::PUT,
                ..ok.clone()
            },
            "The requested HTTP method is only allowed for non-replicated requests.",
        ),
    ];
    for (args, message) in cases {
        let err = validate(&args, false).unwrap_err();
        assert_eq!(err.code, RejectCode::CanisterReject);
        assert_eq!(err.message, message);
    }
    let non_replicated_put = HttpRequestArgs {
        method: HttpMethod::PUT,
        is_replicated: Some(false),
        ..ok.clone()
    };
    assert!(validate(&non_replicated_put, false).is_ok());
    assert!(validate(&ok, false).is_ok());
}

#[test]
fn mocked_responses_get_the_same_limit() {
    let args = HttpRequestArgs {
        max_response_bytes: Some(20),
        ..get("https://example.com".into())
    };
    let response = |headers: Vec<HttpHeader>, body: usize| HttpRequestResult {
        status: 200u32.into(),
        headers,
        body: vec![0; body],
    };
    assert!(enforce_response_limit(&args, &response(vec![header("ab", "cd")], 16)).is_ok());
    let err = enforce_response_limit(&args, &response(vec![header("ab", "cd")], 17)).unwrap_err();
    assert_eq!(err.message, "Http body exceeds size limit of 20 bytes.");
    let err = enforce_response_limit(&args, &response(vec![header("a", &"b".repeat(20))], 0));
    assert_eq!(err.unwrap_err().code, RejectCode::SysFatal);
    // No max_response_bytes means 2 MB.
    let default = get("https://example.com".into());
    assert!(enforce_response_limit(&default, &response(vec![], 2_000_000)).is_ok());
    assert!(enforce_response_limit(&default, &response(vec![], 2_000_001)).is_err());
}

#[test]
fn request_size_counts_url_headers_body_and_transform() {
    let args = HttpRequestArgs {
        url: "https://x".into(),
        headers: vec![header("ab", "cde")],
        body: Some(vec![0; 7]),
        ..Default::default()
    };
    assert_eq!(request_size(&args), 9 + 2 + 3 + 7);
}
