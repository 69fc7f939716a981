"""HAP requests answered as the specification says, whatever HAP-python 5.2 would do.

One handler per connection (a subclass of HAP-python's): routing with 404/405, 470 for a
secure resource without a session, ``/identify``, reads with their ``meta``/``perms``/
``type``/``ev`` options, writes checked against permissions and formats, per-connection
pair-setup with the attempt counter. Whatever a request holds, the answer is a 4xx and at
most one short, rate-limited debug line: never a traceback, never a state change.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import h11
from pyhap import tlv
from pyhap.accessory import Accessory, Bridge, get_topic
from pyhap.characteristic import Characteristic
from pyhap.hap_handler import (
    HAP_TLV_ERRORS,
    HAP_TLV_STATES,
    HAP_TLV_TAGS,
    HAPResponse,
    HAPServerHandler,
)
from pyhap.util import from_hap_json, to_hap_json

from hapbridge.bridge import hap_values as hv
from hapbridge.bridge.hap_pairings import (
    TLV_ERROR_UNKNOWN,
    BadPairing,
    parse_add_pairing,
    parse_controller,
)
from hapbridge.log_limit import RateLimitedLog

if TYPE_CHECKING:
    from hapbridge.bridge.hap_driver import PrivateStateDriver

_LOGGER = logging.getLogger(__name__)

# Need a verified session (pair-verify); everything else is open to anyone.
SECURE_PATHS = frozenset({"/accessories", "/characteristics", "/prepare", "/pairings",
                          "/resource"})
TLV_PATHS = frozenset({"/pair-setup", "/pair-verify", "/pairings"})
CONNECTION_AUTHORIZATION_REQUIRED = 470
# A request line and headers beyond this answer 431 and close the connection (h11 limits
# only a header still incomplete after a read: one that arrives whole passes any size).
MAX_HEADER_BYTES = 8192
REQUEST_HEADER_FIELDS_TOO_LARGE = 431
MAX_IDS = 512  # characteristics in one read: more than a 149-lock bridge has
_REASONS = {CONNECTION_AUTHORIZATION_REQUIRED: "Connection Authorization Required",
            REQUEST_HEADER_FIELDS_TOO_LARGE: "Request Header Fields Too Large"}
_OPTIONS = ("meta", "perms", "type", "ev")
_META_KEYS = ("format", "unit", "minValue", "maxValue", "minStep", "maxLen", "valid-values")
_DESCRIBED = frozenset(("meta", "perms", "type"))  # the options read from to_HAP()
_PYHAP_LOGGERS = ("pyhap.hap_handler", "pyhap.hap_protocol")


class BadRequest(Exception):
    """The request is not what HAP allows (answered 400 / -70410)."""


class _QuietPyhap(logging.Filter):
    """While one of our connections handles network input, HAP-python's own lines about it
    (errors and warnings with no rate limit, some with tracebacks) become our rate-limited
    debug line. Other drivers in the process are untouched: the filter is inert outside."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.noise = RateLimitedLog(_LOGGER)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.active:
            return True
        self.noise.log("pyhap", logging.DEBUG, "HAP-python: %s",
                       record.getMessage().splitlines()[0][:160])
        return False


_QUIET = _QuietPyhap()


def install_quiet_filter() -> None:
    """Idempotent: attach the filter to HAP-python's request and connection loggers."""
    for name in _PYHAP_LOGGERS:
        target = logging.getLogger(name)
        if _QUIET not in target.filters:
            target.addFilter(_QUIET)


@contextlib.contextmanager
def quiet_pyhap() -> Iterator[None]:
    _QUIET.active += 1
    try:
        yield
    finally:
        _QUIET.active -= 1


def _tlv_error(state: bytes, error: bytes) -> bytes:
    return tlv.encode(HAP_TLV_TAGS.SEQUENCE_NUM, state, HAP_TLV_TAGS.ERROR_CODE, error)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise BadRequest("aid and iid must be integers")
    return value


class GuardedRequestHandler(HAPServerHandler):
    """HAP-python's handler with HAP's answers; ``revoked`` once its controller is removed."""

    accessory_handler: PrivateStateDriver

    def __init__(self, driver: PrivateStateDriver, client_address: Any,
                 noise: RateLimitedLog) -> None:
        super().__init__(driver, client_address)
        self.noise = noise
        self.revoked = False
        self.dispatching = False
        self._answered = False
        self._srp: Any = None  # this connection's pair-setup SRP session
        self.awaiting_code = False  # pair-setup M2 sent, M3 (the code's proof) not yet
        self.hang_up = False  # the connection closes after this answer

    @property
    def host(self) -> str:
        address = self.client_address
        return str(address[0]) if isinstance(address, tuple) else str(address)

    # -- routing ---------------------------------------------------------------------------

    def dispatch(self, request: h11.Request, body: bytes | None = None) -> HAPResponse:
        self.response = HAPResponse()
        self._answered = False
        self.dispatching = True
        try:
            self.command = request.method.decode("ascii")
            self.path = request.target.decode("ascii")
            self.request_body = body or b""
            self.parsed_url = urlparse(self.path)
            if _header_bytes(request) > MAX_HEADER_BYTES:
                self.hang_up = True
                self._answer(REQUEST_HEADER_FIELDS_TOO_LARGE)
                self.noise.log("header", logging.DEBUG, "HAP: answered 431 to a request of "
                               "over %d header bytes from %s", MAX_HEADER_BYTES, self.host)
            else:
                self._route(self.parsed_url.path)
            if not self._answered:
                raise BadRequest("no answer for this request")
        except Exception as err:  # network input: whatever it breaks is its own fault
            self._bad_request(err)
        finally:
            self.dispatching = False
        response, self.response = self.response, None
        return response

    def _route(self, path: str) -> None:
        methods = {method for method, paths in self.HANDLERS.items() if path in paths}
        if path == "/identify":
            methods.add("POST")
        if not methods:
            self._answer(HTTPStatus.NOT_FOUND, hv.RESOURCE_DOES_NOT_EXIST)
            return
        if self.command not in methods:
            self._answer(HTTPStatus.METHOD_NOT_ALLOWED, hv.INVALID_VALUE)
            return
        if self.revoked or (path in SECURE_PATHS and not self.is_encrypted):
            self._answer(CONNECTION_AUTHORIZATION_REQUIRED, hv.INSUFFICIENT_PRIVILEGES)
            return
        if path == "/identify":
            self._identify()
            return
        if path in TLV_PATHS:
            _check_tlv(self.request_body or b"")
        getattr(self, self.HANDLERS[self.command][path])()

    def send_response(self, http_status: HTTPStatus) -> None:
        self._answered = True
        super().send_response(http_status)

    def _answer(self, code: int, status: int | None = None,
                body: dict[str, Any] | None = None) -> None:
        response = self.response
        assert response is not None
        self._answered = True
        response.status_code = code
        response.reason = _REASONS.get(code) or HTTPStatus(code).phrase
        response.headers = []
        response.body = b""
        if body is None and status is not None:
            body = {"status": status}
        if body is not None:
            response.headers.append(("Content-Type", self.JSON_RESPONSE_TYPE))
            response.body = to_hap_json(body)

    def _bad_request(self, err: Exception) -> None:
        self.response = HAPResponse()  # nothing half-built from before the failure goes out
        self._answer(HTTPStatus.BAD_REQUEST, hv.INVALID_VALUE)
        self.noise.log("bad-request", logging.DEBUG, "HAP: answered 400 to %s %r from %s (%s)",
                       self.command, (self.path or "")[:60], self.host, type(err).__name__)

    def _identify(self) -> None:
        if self.state.paired:
            # HAP: once paired, identify goes through the Identify characteristic.
            self._answer(HTTPStatus.BAD_REQUEST, hv.INSUFFICIENT_PRIVILEGES)
            return
        self.noise.log("identify", logging.INFO, "HomeKit asked the bridge to identify itself "
                       "(from %s)", self.host)
        self._answer(HTTPStatus.NO_CONTENT)

    # -- characteristics -------------------------------------------------------------------

    def _accessory(self, aid: int) -> Accessory | None:
        top = self.accessory_handler.accessory
        if top is None:
            return None
        if aid == top.aid:
            return top
        return top.accessories.get(aid) if isinstance(top, Bridge) else None

    def _find(self, aid: int, iid: int) -> tuple[Accessory, Characteristic] | None:
        acc = self._accessory(aid)
        if acc is None:
            return None
        char = acc.iid_manager.get_obj(iid)
        return (acc, char) if isinstance(char, Characteristic) else None

    def handle_get_characteristics(self) -> None:
        assert self.parsed_url is not None
        params = parse_qs(self.parsed_url.query, strict_parsing=bool(self.parsed_url.query))
        ids = params.get("id")
        if not ids or len(ids) != 1:
            raise BadRequest("one id parameter is required")
        wanted = [_parse_id(part) for part in ids[0].split(",")]
        if len(wanted) > MAX_IDS:
            raise BadRequest("too many ids")
        options = {name for name in _OPTIONS
                   if params.get(name, ["0"])[-1].lower() in ("1", "true")}
        results = [self._read(aid, iid, options) for aid, iid in wanted]
        if all(result["status"] == hv.SUCCESS for result in results):
            for result in results:
                del result["status"]
            self._answer(HTTPStatus.OK, body={"characteristics": results})
        else:
            self._answer(HTTPStatus.MULTI_STATUS, body={"characteristics": results})

    def _read(self, aid: int, iid: int, options: set[str]) -> dict[str, Any]:
        result: dict[str, Any] = {"aid": aid, "iid": iid}
        found = self._find(aid, iid)
        if found is None:
            result["status"] = hv.RESOURCE_DOES_NOT_EXIST
            return result
        acc, char = found
        status = hv.read_status(char)
        if status == hv.SUCCESS and not acc.available:
            status = hv.SERVICE_COMMUNICATION_FAILURE
        if status == hv.SUCCESS:
            result["value"] = char.get_value()
        result["status"] = status
        if options & _DESCRIBED:  # a plain read (most of them) needs no description
            description = char.to_HAP(include_value=False)
            if "meta" in options:
                result.update({key: description[key] for key in _META_KEYS
                               if key in description})
            if "perms" in options:
                result["perms"] = description["perms"]
            if "type" in options:
                result["type"] = description["type"]
        if "ev" in options:
            subscribed = self.accessory_handler.topics.get(get_topic(aid, iid), ())
            result["ev"] = self.client_address in subscribed
        return result

    def handle_set_characteristics(self) -> None:
        query = from_hap_json(self.request_body or b"")
        entries = query.get("characteristics") if isinstance(query, dict) else None
        if not isinstance(entries, list) or not entries:
            raise BadRequest("a characteristics list is required")
        statuses: dict[tuple[int, int], int] = {}
        passed: list[dict[str, Any]] = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise BadRequest("each characteristic is an object")
            key = (_int(entry.get("aid")), _int(entry.get("iid")))
            if key in statuses:
                # One answer per id cannot tell of two writes: the whole request is refused
                # (nothing executed), rather than one write run and the other reported.
                raise BadRequest("an aid.iid repeats in one write")
            statuses[key] = self._write_status(entry)
        timed = self._timed_write_status(query)
        for entry in entries:
            key = (entry["aid"], entry["iid"])
            if timed != hv.SUCCESS and statuses[key] == hv.SUCCESS:
                statuses[key] = timed
            if statuses[key] == hv.SUCCESS:
                passed.append(entry)
        answered: dict[tuple[int, int], dict[str, Any]] = {}
        if passed:
            # Without "pid": checked above, and HAP-python would take a pid it no longer
            # finds as expired and write entries that carry no value.
            plain = {name: item for name, item in query.items() if name != "pid"}
            result = self.accessory_handler.set_characteristics(
                {**plain, "characteristics": passed}, self.client_address)
            for item in (result or {}).get("characteristics", []):
                answered[(item["aid"], item["iid"])] = item
        chars = []
        for (aid, iid), status in statuses.items():
            item = answered.get((aid, iid), {"status": status})
            chars.append({**item, "aid": aid, "iid": iid})
        if all(item["status"] == hv.SUCCESS and "value" not in item for item in chars):
            self._answer(HTTPStatus.NO_CONTENT)
        else:
            self._answer(HTTPStatus.MULTI_STATUS, body={"characteristics": chars})

    def _timed_write_status(self, query: dict[str, Any]) -> int:
        """HAP's timed write: a ``pid`` must name this connection's live ``/prepare`` (used
        once); any other (unknown, expired, not an integer) executes nothing: -70410."""
        if "pid" not in query:
            return hv.SUCCESS
        pid = query["pid"]
        if type(pid) is not int:
            return hv.INVALID_VALUE
        prepared = self.accessory_handler.prepared_writes.get(self.client_address, {})
        expires = prepared.pop(pid, None)
        if expires is None or time.time() > expires:
            return hv.INVALID_VALUE
        return hv.SUCCESS

    def _write_status(self, entry: dict[str, Any]) -> int:
        found = self._find(entry["aid"], entry["iid"])
        if found is None:
            return hv.RESOURCE_DOES_NOT_EXIST
        _acc, char = found
        if "ev" in entry:
            ev = entry["ev"]
            if not (isinstance(ev, bool) or (type(ev) is int and ev in (0, 1))):
                return hv.INVALID_VALUE
            if ev and (status := hv.notify_status(char)) != hv.SUCCESS:
                return status
        if "value" in entry:
            return hv.write_status(char, entry["value"])
        if "ev" not in entry:
            return hv.INVALID_VALUE  # neither a value nor a subscription: nothing to do
        return hv.SUCCESS

    # -- pairings (admin) ------------------------------------------------------------------

    def _refuse_pairing(self, err: Exception) -> None:
        self.noise.log("bad-pairing", logging.DEBUG, "HAP: refused a pairings request from "
                       "%s (%s)", self.host, err)
        self._send_tlv_pairing_response(_tlv_error(HAP_TLV_STATES.M2, TLV_ERROR_UNKNOWN))

    def _handle_add_pairing(self, tlv_objects: dict[bytes, Any]) -> None:
        """Checked whole before HAP-python's State stores anything; an identifier that is
        paired with another key is refused (HAP: kTLVError_Unknown), the same key with other
        permissions updates them (a downgraded admin's open sessions lose /pairings at once:
        the permission is looked up on every request)."""
        try:
            request = parse_add_pairing(tlv_objects)
        except BadPairing as err:
            self._refuse_pairing(err)
            return
        stored = self.state.paired_clients.get(request.controller.uuid)
        if stored is not None and stored != request.public_key:
            self._refuse_pairing(BadPairing("that identifier is paired with another key"))
            return
        super()._handle_add_pairing({
            HAP_TLV_TAGS.USERNAME: request.controller.identifier,
            HAP_TLV_TAGS.PUBLIC_KEY: request.public_key,
            HAP_TLV_TAGS.PERMISSIONS: request.permissions,
        })

    def _handle_remove_pairing(self, tlv_objects: dict[bytes, bytes]) -> None:
        try:
            controller = parse_controller(tlv_objects)
        except BadPairing as err:
            self._refuse_pairing(err)
            return
        super()._handle_remove_pairing({HAP_TLV_TAGS.USERNAME: controller.identifier})

    # -- pair-setup ------------------------------------------------------------------------

    def handle_pairing(self) -> None:
        """HAP-python's pair-setup with this connection's own SRP session (a second
        controller's M1 cannot break the owner's pairing) and the attempt counter."""
        driver = self.accessory_handler
        attempts = driver.pairing_attempts
        if attempts is not None and not self.state.paired:
            sequence = tlv.decode(self.request_body or b"").get(HAP_TLV_TAGS.SEQUENCE_NUM)
            answer_state = {HAP_TLV_STATES.M1: HAP_TLV_STATES.M2,
                            HAP_TLV_STATES.M3: HAP_TLV_STATES.M4}.get(sequence)
            refusal = (attempts.refusal(self.host, starting=sequence == HAP_TLV_STATES.M1)
                       if answer_state else None)
            if answer_state is not None and refusal is not None:
                self._send_tlv_pairing_response(_tlv_error(answer_state, refusal))
                return
        driver.srp_verifier = self._srp
        try:
            super().handle_pairing()
        finally:
            self._srp, driver.srp_verifier = driver.srp_verifier, None
        self.awaiting_code = self._sent_salt()
        if attempts is None or self.response is None:
            return
        if self.response.pairing_changed:
            attempts.succeeded()
        elif self._wrong_code():
            attempts.failed(self.host)

    def _sent_salt(self) -> bool:
        assert self.response is not None
        return bool(self.response.body) and (
            HAP_TLV_TAGS.SALT in tlv.decode(self.response.body))

    def _wrong_code(self) -> bool:
        assert self.response is not None
        if not self.response.body:
            return False
        answer = tlv.decode(self.response.body)
        return (answer.get(HAP_TLV_TAGS.SEQUENCE_NUM) == HAP_TLV_STATES.M4
                and answer.get(HAP_TLV_TAGS.ERROR_CODE) == HAP_TLV_ERRORS.AUTHENTICATION)


def _check_tlv(body: bytes) -> None:
    """HAP-python's decoder takes a truncated item as a shorter value: refuse it here."""
    if not body:
        raise BadRequest("an empty TLV body")
    position = 0
    while position < len(body):
        if position + 2 > len(body) or position + 2 + body[position + 1] > len(body):
            raise BadRequest("a truncated TLV item")
        position += 2 + body[position + 1]


def _header_bytes(request: h11.Request) -> int:
    return len(request.target) + sum(len(name) + len(value) + 4
                                     for name, value in request.headers)


def _parse_id(text: str) -> tuple[int, int]:
    aid, sep, iid = text.partition(".")
    if not sep or not (aid + iid).isascii() or not aid.isdigit() or not iid.isdigit():
        raise BadRequest("ids are aid.iid")
    return int(aid), int(iid)
