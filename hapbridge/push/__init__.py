"""Real-time state from TTLock's pushed lock records (the developer application's callback).

* :mod:`~hapbridge.push.records`: a push parsed and checked (:func:`parse_push`).
* :mod:`~hapbridge.push.ordering`: which records may change what a lock shows
  (:class:`RecordOrder`, one per lock).
* :mod:`~hapbridge.push.receiver`: the HTTP receiver (:class:`PushReceiver`) and the
  :class:`RecordSink` the bridge gives it.
* :mod:`~hapbridge.push.forwarder`: passing pushes on to ``forwardTo``.
* :mod:`~hapbridge.push.settings`, :mod:`~hapbridge.push.callback_url`: the ``callback``
  settings, the secret path and the URL to paste into the developer platform.
* :mod:`~hapbridge.push.events`: judged records as event-log entries.

The record types' meaning lives in :mod:`hapbridge.ttlock.record_types`, shared with the
``records`` command and the simulator. Importing this package does not load aiohttp.
"""
