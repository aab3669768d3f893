// An independent OCPP-J charger for tests/integration/test_interop.py.
//
// Built on ocpp-rpc (mikuso) in strict mode: every message in both directions is validated
// against ocpp-rpc's own copy of the specification's JSON schemas. A request of the central
// system that breaks them is refused with a CALLERROR (the handler never runs); a CALLRESULT
// that breaks them fails the call here. Either way a line says so, which is the point: the
// central system shares the `ocpp` Python library with our own simulators, so only an
// independent implementation can catch where both depart from the specification.
//
//   node charger.mjs <ocpp1.6|ocpp2.0.1> <endpoint URL> <identity>
//
// Runs the scripted session of the protocol, then answers the central system's requests until
// stdin closes or reads a "stop" line. Every step is one JSON line on stdout:
//   {"step": "call", "action", "request", "response"}            a call of ours was answered
//   {"step": "call", "action", "request", "error": {...}}         ... refused, or its answer failed
//                                                                 strict validation ("strict": true)
//   {"step": "received", "action", "request", "response"}        we answered a request
//   {"step": "refused", "action", "request", "error": {...}}      we refused one (strict: schema)
//   {"step": "strict", ...}                                       any strict validation failure
//   {"step": "bad-message", "error", "message"}                   a frame that is not OCPP-J
//   {"step": "open"}, {"step": "scripted"}, {"step": "closed", "code", "reason"}

import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { RPCClient } from 'ocpp-rpc';

const [protocol, endpoint, identity] = process.argv.slice(2);
if (!['ocpp1.6', 'ocpp2.0.1'].includes(protocol) || !endpoint || !identity) {
    process.stderr.write('usage: node charger.mjs <ocpp1.6|ocpp2.0.1> <endpoint URL> <identity>\n');
    process.exit(2);
}

const CARDS = ['04AABBCC', '04BLOCKED', '04EXPIRED', '04FOREIGN'];
/** The composite schedule of every connector: 16 A on three phases, 10 A from 30 s on. */
const COMPOSITE_PERIODS = [{ startPeriod: 0, limit: 16.0, numberPhases: 3 }, { startPeriod: 30, limit: 10.0 }];
const METER_START_WH = 1000;
const METER_MID_WH = 5000;
const METER_STOP_WH = 13300;

function emit(line) {
    process.stdout.write(JSON.stringify(line) + '\n');
}

function errorValue(err) {
    return {
        code: err.rpcErrorCode ?? err.name ?? 'Error',
        message: err.rpcErrorMessage || err.message || '',
        details: err.details ?? {},
    };
}

function now() {
    return new Date().toISOString();
}

const client = new RPCClient({
    endpoint,
    identity,
    protocols: [protocol],
    strictMode: true,
    reconnect: false,
    callTimeoutMs: 10000,
});

let lastStrictFailure = null;
client.on('strictValidationFailure', (event) => {
    if (event.outbound === false && event.isCall === false) {
        lastStrictFailure = event; // the answer to our call; the call rejects next
    }
    emit({
        step: 'strict',
        action: event.method,
        outbound: event.outbound,
        isCall: event.isCall,
        request: event.params,
        response: event.result,
        error: errorValue(event.error),
    });
});
client.on('badMessage', ({ buffer, error }) => {
    emit({ step: 'bad-message', error: errorValue(error), message: String(buffer) });
});
client.on('callResult', (event) => {
    if (!event.outbound) {
        emit({ step: 'received', action: event.method, request: event.params, response: event.result });
    }
});
client.on('callError', (event) => {
    if (!event.outbound) {
        emit({ step: 'refused', action: event.method, request: event.params, error: errorValue(event.error) });
    }
});
client.on('close', ({ code, reason }) => {
    emit({ step: 'closed', code, reason: String(reason ?? '') });
    process.exit(0);
});

async function call(action, request) {
    lastStrictFailure = null;
    try {
        const response = await client.call(action, request);
        emit({ step: 'call', action, request, response });
        return response;
    } catch (err) {
        const strict = lastStrictFailure !== null;
        emit({ step: 'call', action, request, error: errorValue(err), strict });
        return null;
    }
}

/** Sent after the answer to a TriggerMessage, as both specifications require. */
function later(fn) {
    setTimeout(() => fn().catch((err) => emit({ step: 'error', error: errorValue(err) })), 20);
}

// --- OCPP 1.6 --------------------------------------------------------------------------------

function energy16(wh, context) {
    return {
        timestamp: now(),
        sampledValue: [
            { value: String(wh), context, measurand: 'Energy.Active.Import.Register', location: 'Outlet', unit: 'Wh' },
            { value: '16.0', context, measurand: 'Current.Import', phase: 'L1', unit: 'A' },
        ],
    };
}

const state16 = {
    configuration: new Map([
        ['HeartbeatInterval', { value: '300', readonly: false }],
        ['MeterValueSampleInterval', { value: '60', readonly: false }],
        ['NumberOfConnectors', { value: '2', readonly: true }],
        ['WebSocketPingInterval', { value: '60', readonly: false, reboot: true }],
    ]),
    profiles: new Map(),
    listVersion: 0,
    transactionId: null,
};

async function status16(connectorId, status) {
    await call('StatusNotification', { connectorId, errorCode: 'NoError', status, timestamp: now() });
}

async function script16() {
    await call('BootNotification', {
        chargePointVendor: 'ocpp-rpc',
        chargePointModel: 'interop',
        chargePointSerialNumber: 'IOP-16-0001',
        firmwareVersion: '1.0.0',
        meterType: 'interop meter',
        meterSerialNumber: 'M-0001',
    });
    await call('Heartbeat', {});
    for (const connector of [0, 1, 2]) {
        await status16(connector, 'Available');
    }
    for (const idTag of CARDS) {
        await call('Authorize', { idTag });
    }
    await status16(1, 'Preparing');
    const started = await call('StartTransaction', {
        connectorId: 1, idTag: CARDS[0], meterStart: METER_START_WH, timestamp: now(),
    });
    const transactionId = started?.transactionId ?? 0;
    state16.transactionId = transactionId;
    await status16(1, 'Charging');
    await call('MeterValues', {
        connectorId: 1, transactionId, meterValue: [energy16(METER_MID_WH, 'Sample.Periodic')],
    });
    await call('StopTransaction', {
        transactionId,
        idTag: CARDS[0],
        meterStop: METER_STOP_WH,
        timestamp: now(),
        reason: 'EVDisconnected',
        transactionData: [energy16(METER_STOP_WH, 'Transaction.End')],
    });
    await status16(1, 'Finishing');
    await call('DataTransfer', { vendorId: 'io.chargectl.interop', messageId: 'hello', data: '{"n":1}' });
    await call('FirmwareStatusNotification', { status: 'Downloaded' });
    await call('DiagnosticsStatusNotification', { status: 'Uploaded' });
    // OCPP 1.6 security extension (Improved security for OCPP 1.6-J), which the endpoint handles.
    await call('SecurityEventNotification', { type: 'StartupOfTheDevice', timestamp: now(), techInfo: 'cold boot' });
    await call('LogStatusNotification', { status: 'Uploaded', requestId: 1 });
    await call('SignedFirmwareStatusNotification', { status: 'SignatureVerified', requestId: 1 });
}

const TRIGGERED_16 = {
    BootNotification: () => call('BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'interop' }),
    Heartbeat: () => call('Heartbeat', {}),
    StatusNotification: () => status16(1, 'Available'),
    MeterValues: () => call('MeterValues', { connectorId: 1, meterValue: [energy16(METER_STOP_WH, 'Trigger')] }),
    FirmwareStatusNotification: () => call('FirmwareStatusNotification', { status: 'Idle' }),
    DiagnosticsStatusNotification: () => call('DiagnosticsStatusNotification', { status: 'Idle' }),
};

function handlers16() {
    const { configuration, profiles } = state16;
    return {
        GetConfiguration: ({ key }) => {
            const asked = key ?? [...configuration.keys()];
            const known = asked.filter((k) => configuration.has(k));
            const unknownKey = asked.filter((k) => !configuration.has(k));
            return {
                configurationKey: known.map((k) => ({ key: k, readonly: configuration.get(k).readonly, value: configuration.get(k).value })),
                ...(unknownKey.length ? { unknownKey } : {}),
            };
        },
        ChangeConfiguration: ({ key, value }) => {
            const entry = configuration.get(key);
            if (!entry) return { status: 'NotSupported' };
            if (entry.readonly) return { status: 'Rejected' };
            entry.value = value;
            return { status: entry.reboot ? 'RebootRequired' : 'Accepted' };
        },
        Reset: () => ({ status: 'Accepted' }),
        ChangeAvailability: ({ connectorId }) => ({ status: connectorId <= 2 ? 'Accepted' : 'Rejected' }),
        SetChargingProfile: ({ connectorId, csChargingProfiles }) => {
            if (connectorId > 2) return { status: 'Rejected' };
            profiles.set(csChargingProfiles.chargingProfileId, { connectorId, ...csChargingProfiles });
            return { status: 'Accepted' };
        },
        ClearChargingProfile: ({ id, connectorId, chargingProfilePurpose }) => {
            let cleared = 0;
            for (const [key, profile] of profiles) {
                if ((id === undefined || profile.chargingProfileId === id)
                    && (connectorId === undefined || profile.connectorId === connectorId)
                    && (chargingProfilePurpose === undefined || profile.chargingProfilePurpose === chargingProfilePurpose)) {
                    profiles.delete(key);
                    cleared += 1;
                }
            }
            return { status: cleared ? 'Accepted' : 'Unknown' };
        },
        GetCompositeSchedule: ({ connectorId, duration, chargingRateUnit }) => {
            if (connectorId > 2) return { status: 'Rejected' };
            return {
                status: 'Accepted',
                connectorId,
                scheduleStart: now(),
                chargingSchedule: { duration, chargingRateUnit: chargingRateUnit ?? 'A', chargingSchedulePeriod: COMPOSITE_PERIODS },
            };
        },
        SendLocalList: ({ listVersion }) => {
            state16.listVersion = listVersion;
            return { status: 'Accepted' };
        },
        GetLocalListVersion: () => ({ listVersion: state16.listVersion }),
        UpdateFirmware: () => ({}),
        TriggerMessage: ({ requestedMessage }) => {
            const send = TRIGGERED_16[requestedMessage];
            if (!send) return { status: 'NotImplemented' };
            later(send);
            return { status: 'Accepted' };
        },
        RemoteStartTransaction: ({ connectorId }) => ({ status: (connectorId ?? 1) <= 2 ? 'Accepted' : 'Rejected' }),
        RemoteStopTransaction: ({ transactionId }) => ({ status: transactionId === state16.transactionId ? 'Accepted' : 'Rejected' }),
        UnlockConnector: ({ connectorId }) => ({ status: connectorId <= 2 ? 'Unlocked' : 'NotSupported' }),
        ClearCache: () => ({ status: 'Accepted' }),
        DataTransfer: ({ vendorId, data }) => (
            vendorId === 'io.chargectl.interop' ? { status: 'Accepted', data: `echo:${data ?? ''}` } : { status: 'UnknownVendorId' }
        ),
    };
}

// --- OCPP 2.0.1 ------------------------------------------------------------------------------

function idToken(token) {
    return { idToken: token, type: 'ISO14443' };
}

function energy201(wh, context) {
    return {
        timestamp: now(),
        sampledValue: [
            { value: wh, context, measurand: 'Energy.Active.Import.Register', location: 'Outlet', unitOfMeasure: { unit: 'Wh' } },
            { value: 16.0, context, measurand: 'Current.Import', phase: 'L1', unitOfMeasure: { unit: 'A' } },
        ],
    };
}

const state201 = {
    // component name / variable name → attribute; the device model a GetBaseReport reports.
    variables: new Map([
        ['OCPPCommCtrlr/HeartbeatInterval', { value: '300', mutability: 'ReadWrite', dataType: 'integer' }],
        ['SampledDataCtrlr/TxUpdatedInterval', { value: '60', mutability: 'ReadWrite', dataType: 'integer' }],
        ['SecurityCtrlr/Identity', { value: identity, mutability: 'ReadOnly', dataType: 'string' }],
        ['OCPPCommCtrlr/WebSocketPingInterval', { value: '60', mutability: 'ReadWrite', dataType: 'integer', reboot: true }],
    ]),
    profiles: new Map(),
    listVersion: 0,
    transactionId: null,
    seqNo: 0,
};

function variableKey({ component, variable }) {
    return `${component.name}/${variable.name}`;
}

async function script201() {
    await call('BootNotification', {
        reason: 'PowerUp',
        chargingStation: { model: 'interop', vendorName: 'ocpp-rpc', serialNumber: 'IOP-201-0001', firmwareVersion: '1.0.0' },
    });
    await call('Heartbeat', {});
    for (const evseId of [1, 2]) {
        await call('StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId, connectorId: 1 });
    }
    for (const token of CARDS) {
        await call('Authorize', { idToken: idToken(token) });
    }
    const transactionId = randomUUID();
    state201.transactionId = transactionId;
    const event = (eventType, triggerReason, extra) => call('TransactionEvent', {
        eventType, timestamp: now(), triggerReason, seqNo: state201.seqNo++, ...extra,
    });
    await event('Started', 'Authorized', {
        transactionInfo: { transactionId, chargingState: 'EVConnected' },
        evse: { id: 1, connectorId: 1 },
        idToken: idToken(CARDS[0]),
        meterValue: [energy201(METER_START_WH, 'Transaction.Begin')],
    });
    await call('StatusNotification', { timestamp: now(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
    await event('Updated', 'ChargingStateChanged', {
        transactionInfo: { transactionId, chargingState: 'Charging' },
    });
    await call('MeterValues', { evseId: 1, meterValue: [energy201(METER_MID_WH, 'Sample.Periodic')] });
    await event('Updated', 'MeterValuePeriodic', {
        transactionInfo: { transactionId, chargingState: 'Charging' },
        meterValue: [energy201(METER_MID_WH, 'Sample.Periodic')],
    });
    await event('Ended', 'EVCommunicationLost', {
        transactionInfo: { transactionId, chargingState: 'Idle', stoppedReason: 'EVDisconnected' },
        meterValue: [energy201(METER_STOP_WH, 'Transaction.End')],
    });
    await call('StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
    await call('DataTransfer', { vendorId: 'io.chargectl.interop', messageId: 'hello', data: { n: 1 } });
    await call('FirmwareStatusNotification', { status: 'Installed', requestId: 1 });
    await call('LogStatusNotification', { status: 'Uploaded', requestId: 1 });
    await call('SecurityEventNotification', { type: 'StartupOfTheDevice', timestamp: now(), techInfo: 'cold boot' });
    await call('NotifyEvent', {
        generatedAt: now(),
        seqNo: 0,
        eventData: [{
            eventId: 1,
            timestamp: now(),
            trigger: 'Delta',
            actualValue: 'Available',
            eventNotificationType: 'HardWiredNotification',
            component: { name: 'Connector', evse: { id: 1, connectorId: 1 } },
            variable: { name: 'AvailabilityState' },
        }],
    });
}

const TRIGGERED_201 = {
    BootNotification: () => call('BootNotification', {
        reason: 'Triggered', chargingStation: { model: 'interop', vendorName: 'ocpp-rpc' },
    }),
    Heartbeat: () => call('Heartbeat', {}),
    StatusNotification: () => call('StatusNotification', {
        timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1,
    }),
    MeterValues: () => call('MeterValues', { evseId: 1, meterValue: [energy201(METER_STOP_WH, 'Trigger')] }),
    FirmwareStatusNotification: () => call('FirmwareStatusNotification', { status: 'Idle' }),
    LogStatusNotification: () => call('LogStatusNotification', { status: 'Idle' }),
};

function notifyReport(requestId) {
    const reportData = [...state201.variables].map(([key, attribute]) => {
        const [component, variable] = key.split('/');
        return {
            component: { name: component },
            variable: { name: variable },
            variableAttribute: [{ type: 'Actual', value: attribute.value, mutability: attribute.mutability }],
            variableCharacteristics: { dataType: attribute.dataType, supportsMonitoring: false },
        };
    });
    return call('NotifyReport', { requestId, generatedAt: now(), seqNo: 0, tbc: false, reportData });
}

function handlers201() {
    const { variables, profiles } = state201;
    return {
        GetVariables: ({ getVariableData }) => ({
            getVariableResult: getVariableData.map((data) => {
                const attribute = variables.get(variableKey(data));
                const base = { component: data.component, variable: data.variable, attributeType: data.attributeType ?? 'Actual' };
                if (!attribute) return { ...base, attributeStatus: 'UnknownVariable' };
                return { ...base, attributeStatus: 'Accepted', attributeValue: attribute.value };
            }),
        }),
        SetVariables: ({ setVariableData }) => ({
            setVariableResult: setVariableData.map((data) => {
                const attribute = variables.get(variableKey(data));
                const base = { component: data.component, variable: data.variable, attributeType: data.attributeType ?? 'Actual' };
                if (!attribute) return { ...base, attributeStatus: 'UnknownVariable' };
                if (attribute.mutability === 'ReadOnly') return { ...base, attributeStatus: 'Rejected' };
                attribute.value = data.attributeValue;
                return { ...base, attributeStatus: attribute.reboot ? 'RebootRequired' : 'Accepted' };
            }),
        }),
        GetBaseReport: ({ requestId }) => {
            later(() => notifyReport(requestId));
            return { status: 'Accepted' };
        },
        Reset: () => ({ status: 'Accepted' }),
        ChangeAvailability: ({ evse }) => ({ status: (evse?.id ?? 0) <= 2 ? 'Accepted' : 'Rejected' }),
        SetChargingProfile: ({ evseId, chargingProfile }) => {
            if (evseId > 2) return { status: 'Rejected' };
            profiles.set(chargingProfile.id, { evseId, ...chargingProfile });
            return { status: 'Accepted' };
        },
        ClearChargingProfile: ({ chargingProfileId, chargingProfileCriteria }) => {
            const criteria = chargingProfileCriteria ?? {};
            let cleared = 0;
            for (const [key, profile] of profiles) {
                if ((chargingProfileId === undefined || profile.id === chargingProfileId)
                    && (criteria.evseId === undefined || profile.evseId === criteria.evseId)
                    && (criteria.chargingProfilePurpose === undefined || profile.chargingProfilePurpose === criteria.chargingProfilePurpose)
                    && (criteria.stackLevel === undefined || profile.stackLevel === criteria.stackLevel)) {
                    profiles.delete(key);
                    cleared += 1;
                }
            }
            return { status: cleared ? 'Accepted' : 'Unknown' };
        },
        GetCompositeSchedule: ({ evseId, duration, chargingRateUnit }) => {
            if (evseId > 2) return { status: 'Rejected' };
            return {
                status: 'Accepted',
                schedule: { evseId, duration, scheduleStart: now(), chargingRateUnit, chargingSchedulePeriod: COMPOSITE_PERIODS },
            };
        },
        SendLocalList: ({ versionNumber }) => {
            state201.listVersion = versionNumber;
            return { status: 'Accepted' };
        },
        GetLocalListVersion: () => ({ versionNumber: state201.listVersion }),
        UpdateFirmware: () => ({ status: 'Accepted' }),
        TriggerMessage: ({ requestedMessage }) => {
            const send = TRIGGERED_201[requestedMessage];
            if (!send) return { status: 'NotImplemented' };
            later(send);
            return { status: 'Accepted' };
        },
        RequestStartTransaction: ({ evseId }) => ({ status: (evseId ?? 1) <= 2 ? 'Accepted' : 'Rejected' }),
        RequestStopTransaction: ({ transactionId }) => ({ status: transactionId === state201.transactionId ? 'Accepted' : 'Rejected' }),
        UnlockConnector: ({ evseId }) => ({ status: evseId <= 2 ? 'Unlocked' : 'UnknownConnector' }),
        ClearCache: () => ({ status: 'Accepted' }),
        DataTransfer: ({ vendorId, data }) => (
            vendorId === 'io.chargectl.interop'
                ? { status: 'Accepted', data: `echo:${typeof data === 'string' ? data : JSON.stringify(data ?? '')}` }
                : { status: 'UnknownVendorId' }
        ),
    };
}

// --- the session -----------------------------------------------------------------------------

const v16 = protocol === 'ocpp1.6';
for (const [action, handler] of Object.entries(v16 ? handlers16() : handlers201())) {
    client.handle(action, ({ params }) => handler(params));
}
// Anything else is refused, and the refusal is logged (callError), so the test sees it.
client.handle(({ method }) => {
    const err = new Error(`interop charger does not handle ${method}`);
    err.rpcErrorCode = 'NotImplemented';
    throw err;
});

let stopping = false;
async function stop() {
    if (stopping) return;
    stopping = true;
    await client.close({ code: 1000, reason: 'stop' });
}

createInterface({ input: process.stdin })
    .on('line', (line) => { if (line.trim() === 'stop') stop(); })
    .on('close', stop);

try {
    await client.connect();
} catch (err) {
    emit({ step: 'connect-failed', error: errorValue(err) });
    process.exit(1);
}
emit({ step: 'open', protocol: client.protocol });
await (v16 ? script16() : script201());
emit({ step: 'scripted' });
