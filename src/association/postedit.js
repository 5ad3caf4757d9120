/*!
 * campaign-events: the post-edit module.
 *
 * After a signed-in user saves an edit, asks whether to associate that edit with one of the
 * events they take part in, and associates it when they say yes.
 *
 * A wiki installs it with one line in MediaWiki:Common.js (or a gadget):
 *
 *     mw.loader.load( 'https://events.example.org/postedit.js' );
 *
 * Why it is shaped this way:
 *
 * - One self-contained file, no build step, nothing beyond what MediaWiki core ships (mw.hook,
 *   mw.config, mw.user, mw.notify, mw.loader.using, OOUI): the service serves it as it is, and
 *   any MediaWiki since OOUI came into core can load it.
 * - It finds the service at the address it was loaded from (its own <script> element's src,
 *   less "/postedit.js" and any query), so the wiki configures one URL, once.
 * - It signs the user in with the wiki's own session cookies (fetch with credentials) and
 *   proves a write with the wiki's CSRF token (X-CSRF-Token and `token` in the body): the
 *   service asks the wiki who the cookies belong to and whether the token is theirs. So the
 *   browser must send the wiki's cookies to the service: serve the service on the wiki's host
 *   (e.g. behind the wiki's reverse proxy, under a path) or on a host the wiki's cookie domain
 *   covers, and list the wiki's origin in the service's WIKIS_FILE so that its CORS answers let
 *   the page read them.
 * - It never blocks the page and never throws into the console: every request has a deadline
 *   (AbortController), every failure (the service down, an error answer, OOUI not loading) is
 *   at most a mw.log.warn, and nothing is shown unless the user has an event to choose.
 * - Each saved revision is handled once, whether the save is announced by the postEdit hook
 *   (which remembers its last firing) or by wgPostEdit on the reload after a save.
 * - For tests and tools, <html> carries data-ce-postedit (the last outcome: "none", "dialog",
 *   "error", then "associated", "declined", "hidden" or "failed") and
 *   data-ce-postedit-revision (the revision it was about), and window.ceEventsForEditDone is
 *   true once the service has answered (or failed to) for a save.
 */
( function () {
	'use strict';

	/** How long any one request to the service may take. */
	const TIMEOUT_MS = 8000;

	const TEXT = {
		question: ( name ) => 'Associate this edit with ' + name + '?',
		choose: 'Choose the event:',
		title: 'Event contribution',
		yes: 'Yes',
		no: 'No, thanks',
		hide: 'Don\'t ask again for this event',
		associatedBefore: 'Your edit was associated with ',
		associatedAfter: '.',
		hidden: ( name ) => 'You will not be asked again about ' + name + '.',
		failed: 'The edit could not be associated with the event. Please try again later.',
		hideFailed: 'Your choice could not be saved. Please try again later.'
	};

	/** At most a warning in the console, whatever goes wrong. */
	function warn() {
		try {
			if ( window.mw && mw.log && mw.log.warn ) {
				mw.log.warn.apply( mw.log, [ '[campaign-events]' ].concat( Array.prototype.slice.call( arguments ) ) );
			}
		} catch ( e ) {
			// Nothing more can be done.
		}
	}

	/** Where this file was loaded from: its <script>'s src, or failing that, the last such. */
	function ownUrl() {
		const current = document.currentScript;
		if ( current && current.src ) {
			return current.src;
		}
		const scripts = document.querySelectorAll( 'script[src*="postedit.js"]' );
		return scripts.length ? scripts[ scripts.length - 1 ].src : '';
	}

	/** The service's base URL: this file's URL less "/postedit.js", the query and the fragment. */
	function baseUrl( src ) {
		if ( !src ) {
			return '';
		}
		const url = new URL( src, location.href );
		const path = url.pathname.replace( /\/postedit\.js$/, '' ).replace( /\/+$/, '' );
		return url.origin + path;
	}

	/** Marks the outcome on <html>, for tests and tools. */
	function mark( state, revision ) {
		try {
			const root = document.documentElement;
			root.setAttribute( 'data-ce-postedit', state );
			if ( revision ) {
				root.setAttribute( 'data-ce-postedit-revision', String( revision ) );
			}
		} catch ( e ) {
			warn( e );
		}
	}

	let base = '';
	try {
		base = baseUrl( ownUrl() );
	} catch ( e ) {
		warn( 'cannot tell where the service is', e );
	}
	// Loaded twice (Common.js and a gadget), it still asks once.
	if ( !base || !window.mw || !mw.config || !mw.hook || window.ceEventsPostEditLoaded ) {
		return;
	}
	window.ceEventsPostEditLoaded = true;

	/**
	 * One request to the service with the wiki's cookies; resolves to {ok, status, data}
	 * (data: the parsed JSON, or null), rejects on a network failure or the deadline.
	 */
	async function call( method, path, body ) {
		const controller = new AbortController();
		const timer = setTimeout( () => controller.abort(), TIMEOUT_MS );
		try {
			const init = {
				method: method,
				credentials: 'include',
				signal: controller.signal,
				headers: { Accept: 'application/json' }
			};
			if ( body !== undefined ) {
				init.headers[ 'Content-Type' ] = 'application/json';
				if ( body.token ) {
					init.headers[ 'X-CSRF-Token' ] = body.token;
				}
				init.body = JSON.stringify( body );
			}
			const response = await fetch( base + path, init );
			const text = await response.text();
			let data = null;
			try {
				data = text ? JSON.parse( text ) : null;
			} catch ( e ) {
				data = null;
			}
			return { ok: response.ok, status: response.status, data: data };
		} finally {
			clearTimeout( timer );
		}
	}

	const v0 = '/rest.php/campaignevents/v0';

	/** The service's message in MediaWiki's REST error shape, or null. */
	function errorMessage( data ) {
		if ( !data || typeof data !== 'object' ) {
			return null;
		}
		const translations = data.messageTranslations;
		if ( translations && typeof translations.en === 'string' && translations.en ) {
			return translations.en;
		}
		return typeof data.message === 'string' && data.message ? data.message : null;
	}

	function notify( message, options ) {
		try {
			mw.notify( message, Object.assign( { tag: 'ce-postedit' }, options || {} ) );
		} catch ( e ) {
			warn( e );
		}
	}

	function csrfToken() {
		try {
			return mw.user.tokens.get( 'csrfToken' ) || '';
		} catch ( e ) {
			return '';
		}
	}

	/** The events this user may associate an edit on this wiki with: [{id, name}]. */
	async function eventsForEdit( wiki ) {
		const answer = await call( 'GET', v0 + '/participant/self/events_for_edit?wiki=' +
			encodeURIComponent( wiki ) );
		if ( !answer.ok || !Array.isArray( answer.data ) ) {
			if ( !answer.ok && answer.status !== 401 ) {
				warn( 'events_for_edit answered', answer.status, errorMessage( answer.data ) );
			}
			return [];
		}
		return answer.data.filter( ( e ) => e && typeof e === 'object' &&
			Number.isSafeInteger( e.id ) && e.id > 0 && typeof e.name === 'string' )
			.map( ( e ) => ( { id: e.id, name: e.name } ) );
	}

	async function associate( event, wiki, revision ) {
		let answer;
		try {
			answer = await call( 'PUT', v0 + '/event_registration/' + event.id + '/edits/' +
				encodeURIComponent( wiki ) + '/' + revision, { token: csrfToken() } );
		} catch ( e ) {
			warn( 'associating failed', e );
			mark( 'failed', revision );
			notify( TEXT.failed, { type: 'error' } );
			return;
		}
		if ( answer.ok ) {
			const link = document.createElement( 'a' );
			// With the wiki named, the report page signs its reader in with the wiki's
			// cookies (an organizer then sees private participants too).
			link.href = base + '/event/' + event.id + '?wiki=' + encodeURIComponent( wiki );
			link.textContent = event.name;
			const message = document.createElement( 'span' );
			message.className = 'ce-postedit-associated';
			message.append( TEXT.associatedBefore, link, TEXT.associatedAfter );
			mark( 'associated', revision );
			notify( message, { type: 'success', autoHideSeconds: 'long' } );
		} else {
			mark( 'failed', revision );
			notify( errorMessage( answer.data ) || TEXT.failed, { type: 'error', autoHideSeconds: 'long' } );
		}
	}

	async function hidePrompt( event, revision ) {
		const path = v0 + '/event_registration/' + event.id + '/participants/self';
		try {
			// Still registered? A PUT alone would register someone who has just left. The
			// privacy choice is left out of the PUT: the service keeps it as it is.
			const current = await call( 'GET', path );
			if ( !current.ok || !current.data || typeof current.data !== 'object' ) {
				mark( 'failed', revision );
				notify( errorMessage( current.data ) || TEXT.hideFailed, { type: 'error' } );
				return;
			}
			const answer = await call( 'PUT', path, {
				// eslint-disable-next-line camelcase
				hide_contribution_association_prompt: true,
				token: csrfToken()
			} );
			if ( answer.ok ) {
				mark( 'hidden', revision );
				notify( TEXT.hidden( event.name ), { autoHideSeconds: 'short' } );
			} else {
				mark( 'failed', revision );
				notify( errorMessage( answer.data ) || TEXT.hideFailed, { type: 'error' } );
			}
		} catch ( e ) {
			warn( 'hiding the prompt failed', e );
			mark( 'failed', revision );
			notify( TEXT.hideFailed, { type: 'error' } );
		}
	}

	let windowManager = null;
	let DialogClass = null;

	/** The dialog's class, built once OOUI is loaded. */
	function dialogClass() {
		if ( DialogClass ) {
			return DialogClass;
		}
		function AssociateDialog( config ) {
			AssociateDialog.super.call( this, config );
		}
		OO.inheritClass( AssociateDialog, OO.ui.ProcessDialog );
		AssociateDialog.static.name = 'cePostEditAssociate';
		AssociateDialog.static.title = TEXT.title;
		AssociateDialog.static.actions = [
			{ action: 'yes', label: TEXT.yes, flags: [ 'primary', 'progressive' ] },
			{ action: 'no', label: TEXT.no, flags: [ 'safe' ] },
			{ action: 'hide', label: TEXT.hide }
		];

		AssociateDialog.prototype.initialize = function () {
			AssociateDialog.super.prototype.initialize.apply( this, arguments );
			this.question = new OO.ui.LabelWidget( { classes: [ 'ce-postedit-question' ] } );
			const paragraph = document.createElement( 'p' );
			paragraph.appendChild( this.question.$element[ 0 ] );
			this.choice = new OO.ui.RadioSelectWidget( { classes: [ 'ce-postedit-choice' ] } );
			this.choiceField = new OO.ui.FieldLayout( this.choice, {
				label: TEXT.choose,
				align: 'top'
			} );
			this.content = new OO.ui.PanelLayout( { padded: true, expanded: false } );
			this.content.$element.append( paragraph, this.choiceField.$element );
			this.$body.append( this.content.$element );
			this.choice.on( 'select', () => this.updateQuestion() );
		};

		AssociateDialog.prototype.getSetupProcess = function ( data ) {
			return AssociateDialog.super.prototype.getSetupProcess.call( this, data )
				.next( function () {
					this.events = data.events;
					this.choice.clearItems();
					this.choice.addItems( this.events.map( ( e ) => new OO.ui.RadioOptionWidget( {
						data: e.id,
						// A string label is set as text, never as HTML.
						label: e.name
					} ) ) );
					this.choiceField.toggle( this.events.length > 1 );
					this.choice.selectItemByData( this.events[ 0 ].id );
					this.updateQuestion();
				}, this );
		};

		AssociateDialog.prototype.selected = function () {
			const item = this.choice.findSelectedItem();
			const id = item ? item.getData() : this.events[ 0 ].id;
			return this.events.find( ( e ) => e.id === id ) || this.events[ 0 ];
		};

		AssociateDialog.prototype.updateQuestion = function () {
			if ( this.events && this.events.length ) {
				this.question.setLabel( TEXT.question( this.selected().name ) );
			}
		};

		AssociateDialog.prototype.getActionProcess = function ( action ) {
			if ( action === 'yes' || action === 'hide' ) {
				return new OO.ui.Process( function () {
					this.close( { action: action, event: this.selected() } );
				}, this );
			}
			if ( action === 'no' ) {
				return new OO.ui.Process( function () {
					this.close( { action: 'no' } );
				}, this );
			}
			return AssociateDialog.super.prototype.getActionProcess.call( this, action );
		};

		AssociateDialog.prototype.getBodyHeight = function () {
			return this.content.$element.outerHeight( true );
		};

		DialogClass = AssociateDialog;
		return DialogClass;
	}

	/** Asks the user; resolves to {action, event} ("no" for anything but yes and hide). */
	async function ask( events ) {
		await Promise.resolve( mw.loader.using( [ 'oojs-ui-core', 'oojs-ui-windows' ] ) );
		const Dialog = dialogClass();
		if ( !windowManager ) {
			windowManager = new OO.ui.WindowManager();
			document.body.appendChild( windowManager.$element[ 0 ] );
		}
		const dialog = new Dialog( { size: 'medium', classes: [ 'ce-postedit-dialog' ] } );
		windowManager.addWindows( [ dialog ] );
		const instance = windowManager.openWindow( dialog, { events: events } );
		let data;
		try {
			data = await Promise.resolve( instance.closed );
		} finally {
			windowManager.removeWindows( [ 'cePostEditAssociate' ] );
		}
		return data && data.action ? data : { action: 'no' };
	}

	async function afterSave( wiki, revision ) {
		let events;
		try {
			events = await eventsForEdit( wiki );
		} catch ( e ) {
			warn( 'events_for_edit failed', e );
			mark( 'error', revision );
			window.ceEventsForEditDone = true;
			return;
		}
		window.ceEventsForEditDone = true;
		if ( !events.length ) {
			mark( 'none', revision );
			return;
		}
		mark( 'dialog', revision );
		const choice = await ask( events );
		if ( choice.action === 'yes' ) {
			await associate( choice.event, wiki, revision );
		} else if ( choice.action === 'hide' ) {
			await hidePrompt( choice.event, revision );
		} else {
			mark( 'declined', revision );
		}
	}

	const handled = new Set();

	/** Once per saved revision of a signed-in user. */
	function onSaved() {
		try {
			if ( !mw.config.get( 'wgUserName' ) ) {
				return;
			}
			const revision = Number( mw.config.get( 'wgRevisionId' ) ||
				mw.config.get( 'wgCurRevisionId' ) );
			const wiki = mw.config.get( 'wgDBname' );
			if ( !Number.isSafeInteger( revision ) || revision <= 0 || !wiki ||
				handled.has( revision ) ) {
				return;
			}
			handled.add( revision );
			afterSave( wiki, revision ).catch( ( e ) => {
				warn( e );
				mark( 'error', revision );
			} );
		} catch ( e ) {
			warn( e );
		}
	}

	try {
		// The hook remembers its last firing: a handler added after the save was announced
		// still runs. wgPostEdit covers a page whose postEdit module is not loaded.
		mw.hook( 'postEdit' ).add( onSaved );
		if ( mw.config.get( 'wgPostEdit' ) ) {
			onSaved();
		}
	} catch ( e ) {
		warn( e );
	}
}() );
