<?php
// Router for `php -S` in front of a test wiki (tests/api/support/mediawiki.rs): appends one JSON
// line per api.php request to the file named by MW_TEST_API_LOG, before MediaWiki answers it,
// then lets the built-in server run the requested script as usual (`return false`).
// MediaWiki reads the wiki's LocalSettings.php from the MW_CONFIG_FILE environment variable.
if ( parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH ) === '/api.php' ) {
	// As MediaWiki's WebRequest merges them: a POST parameter wins over a query one.
	$params = array_merge( $_GET, $_POST );
	foreach ( [ 'password', 'lgpassword', 'retype' ] as $secret ) {
		if ( isset( $params[$secret] ) ) {
			$params[$secret] = '(hidden)';
		}
	}
	$line = json_encode( [
		'method' => $_SERVER['REQUEST_METHOD'],
		'user_agent' => $_SERVER['HTTP_USER_AGENT'] ?? '',
		'params' => $params,
	], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE );
	file_put_contents( getenv( 'MW_TEST_API_LOG' ), $line . "\n", FILE_APPEND | LOCK_EX );
}
return false;
