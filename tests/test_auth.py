from pymesos_rt.transport.auth import ProofChecker, make_proof


def test_good_proof_is_accepted_once():
    checker = ProofChecker("s3cret")
    proof = make_proof("s3cret", "/api/v1/agent", now=1000.0)
    assert checker.check(proof, "/api/v1/agent", now=1000.5) is None
    assert checker.check(proof, "/api/v1/agent", now=1001.0) == "replayed proof"


def test_refusals_name_the_reason():
    checker = ProofChecker("s3cret", max_age=60)
    assert checker.check(None, "/p", 0) == "no proof of the cluster secret"
    assert checker.check("garbage", "/p", 0) == "malformed proof"
    assert checker.check(make_proof("other", "/p", 100), "/p", 100) == "wrong secret"
    assert checker.check(make_proof("s3cret", "/p", 100), "/p", 500) == "stale proof"
    # a proof made for one path does not open another
    assert checker.check(make_proof("s3cret", "/a", 100), "/b", 100) == "wrong secret"


def test_secret_itself_is_not_in_the_proof():
    proof = make_proof("s3cret-value", "/p", 100)
    assert "s3cret" not in proof
