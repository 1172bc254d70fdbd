//! Tests of the memo: TTLs, leases, cancellation, panics and stale-if-error.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn counting(
    calls: &Arc<AtomicUsize>,
    max_age: Option<Duration>,
) -> impl FnOnce() -> BoxFuture<'static, Fetched<u32>> + use<> {
    let calls = Arc::clone(calls);
    move || {
        let n = calls.fetch_add(1, Ordering::SeqCst) as u32;
        async move { Ok((n, max_age)) }.boxed()
    }
}

fn failing(
    kind: ProviderErrorKind,
) -> impl FnOnce() -> BoxFuture<'static, Fetched<u32>> + use<> {
    move || async move { Err(ProviderError::new("test", kind, "down")) }.boxed()
}

#[tokio::test]
async fn a_huge_ttl_keeps_the_value_without_panicking() {
    let memo = Memo::<u8, u32>::new(Duration::MAX);
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(memo.get_leased(1, counting(&calls, None)).await.unwrap(), 0);
    assert_eq!(memo.get_leased(1, counting(&calls, None)).await.unwrap(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lease_shortens_the_ttl() {
    let memo = Memo::<u8, u32>::new(Duration::from_secs(3600));
    let calls = Arc::new(AtomicUsize::new(0));
    let lease = Some(Duration::from_secs(10));
    memo.get_leased(1, counting(&calls, lease)).await.unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    memo.get_leased(1, counting(&calls, lease)).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "kept within the lease");
    tokio::time::advance(Duration::from_secs(6)).await;
    memo.get_leased(1, counting(&calls, lease)).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "fetched again after the lease"
    );
}

#[tokio::test]
async fn set_ttl_applies_to_later_fetches() {
    let memo = Memo::<u8, u32>::new(Duration::ZERO);
    let calls = Arc::new(AtomicUsize::new(0));
    memo.get_leased(1, counting(&calls, None)).await.unwrap();
    memo.set_ttl(Duration::from_secs(60));
    assert_eq!(memo.ttl(), Duration::from_secs(60));
    memo.get_leased(1, counting(&calls, None)).await.unwrap();
    memo.get_leased(1, counting(&calls, None)).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn forget_drops_one_key() {
    let memo = Memo::<u8, u32>::new(Duration::from_secs(60));
    let calls = Arc::new(AtomicUsize::new(0));
    memo.get_leased(1, counting(&calls, None)).await.unwrap();
    memo.forget(&1);
    memo.get_leased(1, counting(&calls, None)).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_panicking_fetch_answers_an_error_and_leaves_no_slot() {
    let memo = Memo::<u8, u32>::new(Duration::from_secs(60));
    let err = memo
        .get(1, || async { panic!("the fetch fails badly") }.boxed())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Protocol);
    assert_eq!(memo.len(), 0);
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(memo.get_leased(1, counting(&calls, None)).await.unwrap(), 0);
}

#[tokio::test]
async fn dropping_every_caller_cancels_the_fetch() {
    let memo = Memo::<u8, u32>::new(Duration::from_secs(60));
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Sentinel(Arc<AtomicUsize>);
    impl Drop for Sentinel {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let sentinel = Sentinel(Arc::clone(&dropped));
    let pending = memo.get(1, move || {
        async move {
            let _held = sentinel;
            std::future::pending::<()>().await;
            Ok(0)
        }
        .boxed()
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(1), pending)
            .await
            .is_err()
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the fetch was dropped");
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(memo.get_leased(1, counting(&calls, None)).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn stale_values_are_served_on_transient_errors_only() {
    let memo = Memo::<u8, u32>::new(Duration::from_secs(10));
    memo.set_stale_if_error(Some(Duration::from_secs(60)));
    let calls = Arc::new(AtomicUsize::new(0));
    memo.get_leased(1, counting(&calls, None)).await.unwrap();
    tokio::time::advance(Duration::from_secs(11)).await;
    let served = memo
        .get_leased(1, failing(ProviderErrorKind::Timeout))
        .await;
    assert_eq!(served.unwrap(), 0, "stale value served");
    let freshness = memo.freshness(&1).expect("still kept");
    let stale = freshness.stale.expect("marked stale");
    assert_eq!(stale.error.kind(), ProviderErrorKind::Timeout);
    let refused = memo
        .get_leased(1, failing(ProviderErrorKind::Unauthorized))
        .await;
    assert_eq!(refused.unwrap_err().kind(), ProviderErrorKind::Unauthorized);
    assert!(memo.freshness(&1).is_none(), "dropped after a refusal");
}

#[tokio::test(start_paused = true)]
async fn stale_values_stop_at_the_maximum_staleness() {
    let memo = Memo::<u8, u32>::new(Duration::from_secs(10));
    memo.set_stale_if_error(Some(Duration::from_secs(20)));
    let calls = Arc::new(AtomicUsize::new(0));
    memo.get_leased(1, counting(&calls, None)).await.unwrap();
    tokio::time::advance(Duration::from_secs(31)).await;
    let err = memo
        .get_leased(1, failing(ProviderErrorKind::Unavailable))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::Unavailable);
}

#[test]
fn expiry_saturates() {
    let _ = expiry(Duration::MAX);
}

#[tokio::test]
async fn invalidate_is_a_barrier_for_a_fetch_under_way() {
    let memo = Memo::<u8, u32>::new(Duration::from_secs(60));
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let before = memo
        .lookup(&[1], move |_| {
            async move {
                let _ = released.await;
                vec![Ok((7, None))]
            }
            .boxed()
        })
        .remove(0);
    assert!(!memo.invalidate(&1), "no value kept yet");
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(memo.get_leased(1, counting(&calls, None)).await.unwrap(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a new fetch, not the one under way");
    let _ = release.send(());
    assert_eq!(before.value().await.unwrap(), 7, "it finishes for its caller");
    assert_eq!(memo.get_ready(&1), Some(0), "and is not kept");
    assert!(memo.invalidate(&1));
    assert_eq!(memo.get_ready(&1), None);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_value_within_its_ttl() {
    let memo = Memo::<u8, u32>::new(Duration::from_secs(60));
    let calls = Arc::new(AtomicUsize::new(0));
    memo.get_leased(1, counting(&calls, None)).await.unwrap();
    let fetch = |_: Vec<u8>| failing(ProviderErrorKind::NotFound)().map(|r| vec![r]).boxed();
    let err = memo.refresh(1, fetch).value().await.unwrap_err();
    assert_eq!(err.kind(), ProviderErrorKind::NotFound);
    assert_eq!(memo.get_ready(&1), Some(0));
    let fetch = |_: Vec<u8>| counting(&calls, None)().map(|r| vec![r]).boxed();
    assert_eq!(memo.refresh(1, fetch).value().await.unwrap(), 1);
    assert_eq!(memo.get_ready(&1), Some(1));
}

#[test]
fn without_a_runtime_a_due_value_is_served_until_it_expires() {
    let memo = Memo::<u8, u32>::new(Duration::from_millis(20));
    memo.set_refresh_ahead(0.1, Box::new(|_| panic!("no worker without a runtime")));
    let calls = Arc::new(AtomicUsize::new(0));
    let fetch = |_: Vec<u8>| counting(&calls, None)().map(|r| vec![r]).boxed();
    let lookup = memo.lookup(&[1], fetch).remove(0);
    assert_eq!(lookup.value().now_or_never().unwrap().unwrap(), 0);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(memo.get_ready_ahead(&1), Some(0), "due, served");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(memo.get_ready_ahead(&1), None, "expired");
}

